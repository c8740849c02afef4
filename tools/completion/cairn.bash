# bash completion for cairn(1): commands, each command's flags (from
# `cairn COMMAND --help`) and remote paths (listed with `cairn ls` against
# $CAIRN_META or the --meta given on the line). Installed (packaging/) by cmake --install
# into share/bash-completion/completions/cairn.

_cairn_meta_args() {
	local i
	for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
		case ${COMP_WORDS[i]} in
		--meta) echo "--meta ${COMP_WORDS[i + 1]}" ;;
		--meta=*) echo "${COMP_WORDS[i]}" ;;
		esac
	done
}

_cairn_commands() {
	cairn --help 2>/dev/null | awk '/^Commands:/ {on = 1; next} /^$/ {on = 0} on && NF {print $1}'
}

_cairn_remote_paths() {
	local cur=$1 dir base
	case $cur in
	*/*) dir=${cur%/*}/ ;;
	*) dir=/ ;;
	esac
	base=$dir
	[ "$dir" = "/" ] || dir=${dir%/}
	local IFS=$'\n' name
	for name in $(cairn $(_cairn_meta_args) --timeout 2s ls -l "$dir" 2>/dev/null | awk '{
			n = $0; for (i = 1; i <= 7; i++) sub(/^[^ ]+ +/, "", n)
			print (substr($1, 1, 1) == "d" ? n "/" : n) }'); do
		COMPREPLY+=("$base$name")
	done
	COMPREPLY=($(compgen -W "${COMPREPLY[*]}" -- "$cur"))
	compopt -o nospace 2>/dev/null
}

_cairn() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--meta | --timeout) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--meta --timeout --json --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_cairn_commands)" -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		local flags
		flags=$(cairn "$cmd" --help 2>/dev/null | head -1 | grep -o -- '--\?[a-zA-Z][a-z-]*' | sort -u)
		COMPREPLY=($(compgen -W "$flags --meta --timeout --json --help" -- "$cur"))
		return
	fi
	case $cmd in
	put | append)
		# local sources, then a remote target (a word starting with /)
		if [[ $cur == /* && $COMP_CWORD -gt $((i + 1)) ]]; then
			_cairn_remote_paths "$cur"
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	get | getmerge)
		if [[ $cur == /* ]]; then
			_cairn_remote_paths "$cur"
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	checksum)
		_cairn_remote_paths "$cur"
		COMPREPLY+=($(compgen -f -- "$cur"))
		;;
	admin)
		COMPREPLY=($(compgen -W "nodes fsck rebalance decommission recommission" -- "$cur"))
		;;
	*) _cairn_remote_paths "$cur" ;;
	esac
}

complete -F _cairn cairn
