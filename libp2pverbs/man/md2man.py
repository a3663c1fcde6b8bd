#!/usr/bin/env python3
# Minimal Markdown -> roff(man) converter for the libp2pverbs man pages.
# Handles the subset the pages use: a YAML-ish header (title, section,
# date, header, footer), '#'/'##' headings, paragraphs, ``` blocks,
# '- ' lists, definition lists ("term" line then ": text"), **bold**,
# *italic* and `code`.
import re
import sys


def esc(s):
    s = s.replace('\\', '\\e')
    if s.startswith('.') or s.startswith("'"):
        s = '\\&' + s
    return s


def inline(s):
    s = esc(s)
    s = re.sub(r'\*\*(.+?)\*\*', r'\\fB\1\\fR', s)
    s = re.sub(r'`([^`]+)`', r'\\fB\1\\fR', s)
    s = re.sub(r'(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])', r'\\fI\1\\fR', s)
    s = s.replace('-', '\\-')
    return s


def convert(text):
    lines = text.split('\n')
    meta = {}
    i = 0
    if lines and lines[0].strip() == '---':
        i = 1
        while i < len(lines) and lines[i].strip() != '---':
            k, _, v = lines[i].partition(':')
            meta[k.strip()] = v.strip().strip('"').strip("'")
            i += 1
        i += 1
    out = ['.\\" Generated from Markdown by md2man.py; do not edit.',
           '.TH "%s" "%s" "%s" "%s" "%s"' % (
               meta.get('title', 'UNKNOWN'), meta.get('section', '3'),
               meta.get('date', ''), meta.get('footer', 'libp2pverbs'),
               meta.get('header', 'libp2pverbs Manual'))]
    in_code = False
    para = False
    while i < len(lines):
        ln = lines[i]
        i += 1
        if ln.startswith('```'):
            if in_code:
                out.append('.fi')
                out.append('.RE')
                in_code = False
            else:
                out.append('.RS 4')
                out.append('.nf')
                in_code = True
            continue
        if in_code:
            out.append(esc(ln) if ln else '')
            continue
        if not ln.strip():
            para = False
            continue
        if ln.startswith('## '):
            out.append('.SS "%s"' % ln[3:].strip())
            para = False
        elif ln.startswith('# '):
            out.append('.SH "%s"' % ln[2:].strip().upper())
            para = False
        elif ln.startswith('- '):
            out.append('.IP \\(bu 2')
            out.append(inline(ln[2:].strip()))
            para = True
        elif i < len(lines) and lines[i].startswith(': '):
            out.append('.TP')
            out.append(inline(ln.strip()))
            out.append(inline(lines[i][2:].strip()))
            i += 1
            para = True
        elif ln.startswith('  ') and para:
            out.append(inline(ln.strip()))
        else:
            if not para:
                out.append('.PP')
                para = True
            out.append(inline(ln.strip()))
    return '\n'.join(out) + '\n'


if __name__ == '__main__':
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding='utf-8') as f:
        text = f.read()
    with open(dst, 'w', encoding='utf-8') as f:
        f.write(convert(text))
