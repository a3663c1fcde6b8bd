#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB)
"""
The sources kept in providers/p2p/ (laid out as in rdma-core) are exactly the
files the rdma-core patch series creates, byte for byte: a file edited on one
side only, a file the series creates that is missing here, or a file here the
series does not create makes this fail.  Run by ctest (unit.rdma-core-patches).

usage: check-sources.py [PROVIDERS_P2P_DIR]
"""
import os
import sys

KEPT_OUTSIDE = {'rdma-core-patches', 'check-sources.py', 'README.md'}


def series(patch_dir):
    with open(os.path.join(patch_dir, 'series')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                yield os.path.join(patch_dir, line)


def created_files(patch):
    """{path: content} of the files a git patch creates."""
    files = {}
    with open(patch, newline='') as f:
        lines = f.read().split('\n')
    i = 0
    while i < len(lines):
        if lines[i].startswith('--- /dev/null') and \
                i + 1 < len(lines) and lines[i + 1].startswith('+++ b/'):
            path = lines[i + 1][len('+++ b/'):]
            i += 2
            body = []
            # one hunk "@@ -0,0 +1,N @@", then N added lines
            count = int(lines[i].split('+1,')[1].split()[0]) \
                if '+1,' in lines[i] else 1
            i += 1
            for _ in range(count):
                body.append(lines[i][1:])
                i += 1
            content = '\n'.join(body) + '\n'
            if i < len(lines) and lines[i].startswith('\\ No newline'):
                content = content[:-1]
            files[path] = content
        else:
            i += 1
    return files


def kept_files(top):
    found = set()
    for root, dirs, names in os.walk(top):
        rel_root = os.path.relpath(root, top)
        if rel_root == '.':
            dirs[:] = [d for d in dirs if d not in KEPT_OUTSIDE]
            names = [n for n in names if n not in KEPT_OUTSIDE]
        for n in names:
            found.add(os.path.normpath(os.path.join(rel_root, n)))
    return found


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    created = {}
    for patch in series(os.path.join(top, 'rdma-core-patches')):
        created.update(created_files(patch))
    errors = []
    kept = kept_files(top)
    for path in sorted(set(created) | kept):
        if path not in kept:
            errors.append(f'{path}: created by the series, missing in {top}')
        elif path not in created:
            errors.append(f'{path}: in {top}, not created by the series')
        else:
            with open(os.path.join(top, path), newline='') as f:
                if f.read() != created[path]:
                    errors.append(f'{path}: differs from the series')
    for e in errors:
        print(f'FAIL: {e}')
    if not created:
        print('FAIL: the series creates no file')
        return 1
    if not errors:
        print(f'ok: {len(created)} files match the series: '
              f'{", ".join(sorted(created))}')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
