#!/usr/bin/env python3
"""wordfreq: count the most frequent words in text files.

A small application for sysallow's examples: it reads files with a thread pool, can read
compressed input through `gzip -dc` in a subprocess, and writes a JSON report atomically.
That is enough variety (threads, a child process, file I/O, a rename) for its profile to be
worth having.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

WORD = re.compile(r"[a-z']+")


def read_text(path):
    if path.endswith(".gz"):
        return subprocess.run(
            ["gzip", "-dc", path], check=True, capture_output=True, text=True
        ).stdout
    with open(path, encoding="utf-8") as f:
        return f.read()


def count_words(text):
    return collections.Counter(WORD.findall(text.lower()))


def count_files(paths, workers=4):
    total = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for counts in pool.map(lambda p: count_words(read_text(p)), paths):
            total.update(counts)
    return total


def write_report(counts, top, out_path):
    report = {"words": sum(counts.values()), "top": counts.most_common(top)}
    directory = os.path.dirname(os.path.abspath(out_path))
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as tmp:
        json.dump(report, tmp)
    os.replace(tmp.name, out_path)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("-o", "--output", help="write a JSON report here")
    args = parser.parse_args(argv)
    counts = count_files(args.files)
    if args.output:
        write_report(counts, args.top, args.output)
    for word, n in counts.most_common(args.top):
        print(f"{n:6d} {word}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
