/*
 * quote: names printed the way GNU ls's "shell-escape" style prints them,
 * so that a name holding a newline or another control byte can neither
 * forge lines of output nor move the terminal's cursor, and what is printed
 * can be pasted back into a POSIX shell (bash, zsh, ksh) to name the file.
 *
 * A name of only safe bytes (letters, digits, "%+,-./:=@_", and any byte
 * from 0x80 up, taken as UTF-8 text; "~" and "#" when not first) prints as
 * it is. Any other name is quoted: printable runs go inside '...' (a quote
 * itself as \'), each control byte (below 0x20, and 0x7f) as $'\n',
 * $'\t', ... or $'\ooo' in octal. Empty names print as ''.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int quote_safe(unsigned char ch, int first)
{
	if (ch >= 0x80 || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return 1;
	if (ch == '~' || ch == '#')
		return !first;
	return ch && strchr("%+,-./:=@_", ch) != NULL;
}

static int quote_control(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

/* One control byte as $'...'. */
static void quote_escape(FILE *out, unsigned char ch)
{
	static const char named[] = "\a\b\t\n\v\f\r";
	static const char letter[] = "abtnvfr";
	const char *p = strchr(named, ch);
	if (ch && p)
		fprintf(out, "$'\\%c'", letter[p - named]);
	else if (ch == 0x1b)
		fputs("$'\\E'", out);
	else
		fprintf(out, "$'\\%03o'", ch);
}

void cli_put_name(FILE *out, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i;
	for (i = 0; s[i] && quote_safe(s[i], i == 0); i++)
		;
	if (i && !s[i]) {
		fputs(name, out);
		return;
	}
	if (!*s) {
		fputs("''", out);
		return;
	}
	int open = 0; /* inside '...' */
	for (i = 0; s[i]; i++) {
		if (quote_control(s[i])) {
			if (open)
				fputc('\'', out);
			open = 0;
			quote_escape(out, s[i]);
			continue;
		}
		if (s[i] == '\'') {
			fputs(open ? "'\\'" : "\\'", out);
			open = 0;
			continue;
		}
		if (!open)
			fputc('\'', out);
		open = 1;
		fputc(s[i], out);
	}
	if (open)
		fputc('\'', out);
}
