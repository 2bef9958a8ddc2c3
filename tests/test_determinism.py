"""Two cold builds of one commit answer every query with the same top 10."""
from __future__ import annotations

import pytest

from coderag import Index

LICENCE = """// Copyright 2024 The Example Authors.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//      https://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS.
"""
TOPICS = ["hash", "mutex", "string", "time", "status", "queue", "cache", "parser", "buffer", "socket"]


def _files() -> dict[str, str]:
    files = {}
    for i in range(2000):
        topic = TOPICS[i % len(TOPICS)]
        # Every file repeats the licence (vectors tied at one distance) and has its own function.
        files[f"src/{topic}/{topic}_{i}.cc"] = (
            f"{LICENCE}\n#include \"{topic}.h\"\n\nnamespace example {{\n\n"
            f"// Returns the {topic} value number {i} after checking its bounds.\n"
            f"int {topic.capitalize()}Value{i}(int x) {{\n  if (x > {i}) return x - {i};\n  return x + {i};\n}}\n\n"
            f"}}  // namespace example\n"
        )
    return files


QUERIES = ["licence terms of the project", "hash value after checking bounds", "MutexValue12",
           "how is the socket buffer handled", "status and time values"] + [f"{t} value" for t in TOPICS]


@pytest.mark.parametrize("workers", ["2"])
def test_two_cold_builds_give_identical_top_ten(make_repo, workers):
    files = _files()
    answers = []
    for name in ("first", "second"):
        repo = make_repo(files, name=name)
        repo.git("config", "coderag.workers", workers)
        repo.git("config", "coderag.vectorstore.exact-max", "0")  # graphs, where the ties used to differ
        repo.coderag("index", "--quiet", check=True)
        index = Index.open(repo.root)
        answers.append([[(h.path, h.start_line, h.end_line) for h in index.search(q, k=10)] for q in QUERIES])
        index.close()
    assert answers[0] == answers[1]
    assert all(len(top) == 10 for top in answers[0])
