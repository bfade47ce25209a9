import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import wordfreq  # noqa: E402


class WordFreqTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.a = os.path.join(self.dir.name, "a.txt")
        with open(self.a, "w") as f:
            f.write("The cat and the hat. The end!")
        self.b = os.path.join(self.dir.name, "b.txt.gz")
        with gzip.open(self.b, "wt") as f:
            f.write("a cat, a dog, a bird")

    def tearDown(self):
        self.dir.cleanup()

    def test_counts_words_case_insensitively(self):
        counts = wordfreq.count_words("The the THE cat")
        self.assertEqual(counts["the"], 3)
        self.assertEqual(counts["cat"], 1)

    def test_reads_plain_and_gzip_files_in_parallel(self):
        counts = wordfreq.count_files([self.a, self.b])
        self.assertEqual(counts["cat"], 2)
        self.assertEqual(counts["a"], 3)

    def test_writes_report_atomically(self):
        out = os.path.join(self.dir.name, "report.json")
        wordfreq.write_report(wordfreq.count_files([self.a]), 2, out)
        with open(out) as f:
            report = json.load(f)
        self.assertEqual(report["top"][0], ["the", 3])
        self.assertEqual(report["words"], 7)

    def test_command_line(self):
        result = subprocess.run(
            [sys.executable, os.path.join(HERE, "..", "wordfreq.py"), "--top", "1", self.a],
            capture_output=True, text=True, check=True,
        )
        self.assertEqual(result.stdout.split(), ["3", "the"])


if __name__ == "__main__":
    unittest.main()
