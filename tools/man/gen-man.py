#!/usr/bin/python3
"""gen-man: a man page from a program's own --help and a hand-written text.

    gen-man.py PROGRAM SECTION TEXT OUT

Runs `PROGRAM --help` (the declarative flag and command tables print it, so
the page never goes stale), and writes OUT in roff: NAME and DESCRIPTION
from TEXT (its first line is the one-line summary, the rest paragraphs
separated by blank lines), then the usage, each command and each flag as
--help lists them, then TEXT's "SEE ALSO" line if it has one. Built by
CMake into build/man and installed by cmake --install.
"""
import datetime
import os
import re
import subprocess
import sys


def esc(s):
    return s.replace("\\", "\\e").replace("-", "\\-").replace("'", "\\(aq")


def main():
    prog, section, text_path, out = sys.argv[1:5]
    name = os.path.basename(prog)
    if name == "cairn-cli":
        name = "cairn"
    helptext = subprocess.run([prog, "--help"], capture_output=True, text=True).stdout
    with open(text_path) as f:
        text = f.read().strip().split("\n\n")
    summary, paras = text[0].strip(), text[1:]
    see_also = [p for p in paras if p.startswith("SEE ALSO")]
    paras = [p for p in paras if not p.startswith("SEE ALSO")]
    date = datetime.date.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or
                                       os.path.getmtime(text_path))
    w = ['.TH %s %s "%s" "cairn" "cairn manual"' % (name.upper(), section, date.isoformat()),
         ".SH NAME", "%s \\- %s" % (esc(name), esc(summary)), ".SH SYNOPSIS"]
    lines = helptext.splitlines()
    usage = [l for l in lines if l.startswith("usage:")]
    w.append(".B " + esc(usage[0][len("usage: "):]) if usage else ".B " + esc(name))
    w.append(".SH DESCRIPTION")
    for p in paras:
        w += [".PP", esc(" ".join(p.split()))]
    heading = None
    for l in lines[1:]:
        m = re.match(r"^(\S.*?):?\s*$", l)
        if m and not l.startswith(" ") and l.rstrip().endswith(":") or (
                m and not l.startswith(" ") and "(" in l and l.rstrip().endswith(":")):
            heading = l.rstrip().rstrip(":")
            w += [".SH " + esc(heading.split(" (")[0].upper())]
            continue
        # "  HEAD  text", or one space when HEAD overflows its column: then the text
        # starts at the first capitalised word (usage tokens are all capitals).
        item = re.match(r"^  (\S(?:.*?\S)?)\s{2,}(\S.*)$", l) or \
            re.match(r"^  (\S.*?) ([A-Z][a-z].*)$", l)
        if heading and item:
            w += [".TP", ".B " + esc(item.group(1)), esc(item.group(2))]
        elif heading and l.strip():
            w += [esc(l.strip())]
        elif not heading and l.strip() and not l.startswith("usage:"):
            w += [".PP", esc(l.strip())]
    for p in see_also:
        w += [".SH SEE ALSO", esc(p[len("SEE ALSO"):].strip())]
    with open(out, "w") as f:
        f.write("\n".join(w) + "\n")


if __name__ == "__main__":
    sys.exit(main())
