"""Definition chunking for Swift, Kotlin and shell: exact spans, symbols, kinds, docs and fallbacks."""
from __future__ import annotations

import pytest
from test_chunking import check_invariants
from test_chunking import spans
from test_chunking import uncovered

from coderag.analysis.languages import detect_language
from coderag.chunking import syntax
from coderag.chunking.definitions import DefinitionChunker
from coderag.chunking.definitions import SPECS

# ---------------------------------------------------------------------------
# snippets, one realistic file per language
# ---------------------------------------------------------------------------

SWIFT = '''\
import Foundation

let defaultTimeout: TimeInterval = 30

/// Caches decoded values by key.
@MainActor
public final class Cache<Value>: Store {
    /// Backing storage.
    private var items: [String: Value] = [:]

    var count: Int {
        items.count
    }

    init(capacity: Int) {
        items.reserveCapacity(capacity)
    }

    /// Returns the value for `key`.
    /// - Parameter key: the lookup key.
    @discardableResult
    func value(for key: String) -> Value? {
        return items[key]
    }

    subscript(key: String) -> Value? {
        get { items[key] }
        set { items[key] = newValue }
    }

    enum Policy {
        case lru
        case fifo

        func describe() -> String {
            return "\\(self)"
        }
    }

    deinit {
        items.removeAll()
    }
}

protocol Store {
    func value(for key: String) -> Any?
}

// MARK: - Convenience

extension Cache where Value: Codable {
    func encoded(_ key: String) throws -> Data? {
        guard let v = items[key] else { return nil }
        return try JSONEncoder().encode(v)
    }
}

struct Point: Equatable {
    var x: Double
    var y: Double

    static func == (lhs: Point, rhs: Point) -> Bool {
        lhs.x == rhs.x && lhs.y == rhs.y
    }
}

func makeCache() -> Cache<String> {
    func helper() -> Int { 16 }
    return Cache(capacity: helper())
}

print(makeCache().count)
'''

KOTLIN = '''\
package com.example.cache

import kotlinx.serialization.Serializable

const val DEFAULT_CAPACITY = 16

/**
 * Caches decoded values by key.
 */
@Serializable
data class Cache<V>(val capacity: Int) : Store<V> {
    private val items = HashMap<String, V>(capacity)

    constructor() : this(DEFAULT_CAPACITY)

    init {
        require(capacity > 0)
    }

    /** Returns the value for [key]. */
    @Synchronized
    override fun get(key: String): V? {
        return items[key]
    }

    enum class Policy {
        LRU,
        FIFO;

        fun describe(): String = name.lowercase()
    }

    companion object {
        val EMPTY = Cache<Nothing>(1)

        fun <V> of(vararg pairs: Pair<String, V>): Cache<V> {
            return Cache<V>(pairs.size)
        }
    }
}

interface Store<V> {
    fun get(key: String): V?
}

object Registry {
    private val caches = mutableListOf<Cache<*>>()

    fun register(cache: Cache<*>) {
        caches += cache
    }
}

// Shouts.
fun String.shout(): String = uppercase() + "!"

fun <K, V> Map<K, V>.firstKey(): K? {
    return keys.firstOrNull()
}

fun main() {
    println(Registry)
}
'''

SHELL = '''\
#!/usr/bin/env bash
# Deploys the site.
set -euo pipefail

readonly ROOT="$(cd "$(dirname "$0")" && pwd)"
VERBOSE=0

# Prints a message when verbose.
# Usage: log MESSAGE...
log() {
    if [[ "$VERBOSE" == 1 ]]; then
        echo "$@" >&2
    fi
}

function cleanup {
    rm -rf "$TMPDIR"
}
trap cleanup EXIT

function build() (
    cd "$ROOT"
    make all
)

while getopts "v" opt; do
    case "$opt" in
        v) VERBOSE=1 ;;
    esac
done

deploy() {
    retry() { "$@" || "$@"; }
    log "deploying"
    retry rsync -a build/ "$HOST:/srv"
}

build
deploy
'''

CASES = {
    "swift": (SWIFT, [
        (1, 3, "module", ""),
        (5, 9, "class", "Cache"),  # doc comment, @attribute line, stored property
        (11, 13, "property", "Cache.count"),  # computed property
        (15, 17, "method", "Cache.init"),
        (19, 24, "method", "Cache.value"),  # two /// lines and @discardableResult attached
        (26, 29, "method", "Cache.subscript"),
        (31, 33, "enum", "Cache.Policy"),  # nested type: header and cases
        (35, 37, "method", "Cache.Policy.describe"),
        (40, 42, "method", "Cache.deinit"),
        (45, 45, "interface", "Store"),  # protocol
        (46, 46, "method", "Store.value"),  # requirement without a body
        (49, 49, "module", ""),  # "// MARK:" is separated by a blank line
        (51, 51, "extension", "Cache"),  # "where" clause and generics dropped from the name
        (52, 55, "method", "Cache.encoded"),
        (58, 60, "struct", "Point"),
        (62, 64, "method", "Point.=="),  # operator
        (67, 70, "function", "makeCache"),  # nested func stays inside
        (72, 72, "module", ""),
    ]),
    "kotlin": (KOTLIN, [
        (1, 5, "module", ""),
        (7, 12, "class", "Cache"),  # KDoc, annotation, data class header, field
        (14, 14, "method", "Cache.constructor"),
        (16, 18, "method", "Cache.init"),
        (20, 24, "method", "Cache.get"),  # KDoc and annotation attached
        (26, 28, "enum", "Cache.Policy"),
        (30, 30, "method", "Cache.Policy.describe"),
        (33, 34, "object", "Cache.Companion"),  # anonymous companion object and its field
        (36, 38, "method", "Cache.Companion.of"),
        (42, 42, "interface", "Store"),
        (43, 43, "method", "Store.get"),
        (46, 47, "object", "Registry"),
        (49, 51, "method", "Registry.register"),
        (54, 55, "function", "String.shout"),  # extension functions are named Receiver.name
        (57, 59, "function", "Map.firstKey"),
        (61, 63, "function", "main"),
    ]),
    "shell": (SHELL, [
        (1, 6, "module", ""),
        (8, 14, "function", "log"),  # "name() {" with its two comment lines
        (16, 18, "function", "cleanup"),  # "function name {"
        (19, 19, "module", ""),
        (21, 24, "function", "build"),  # "function name() (" with a subshell body
        (26, 30, "module", ""),
        (32, 36, "function", "deploy"),  # nested "retry" stays inside
        (38, 39, "module", ""),
    ]),
}

PATHS = {"swift": "Sources/Cache.swift", "kotlin": "src/Cache.kt", "shell": "bin/deploy.sh"}


@pytest.fixture(scope="module")
def code() -> DefinitionChunker:
    return DefinitionChunker()


def test_detected_language_names_have_a_grammar():
    for language, path in PATHS.items():
        assert detect_language(path) == language
        assert language in SPECS and syntax.has_grammar(language)
    assert detect_language("build.gradle.kts") == "kotlin"
    assert detect_language("install.bash") == "shell"
    assert detect_language("deploy", SHELL) == "shell"  # "#!/usr/bin/env bash"
    assert detect_language("run", "#!/bin/bash\necho hi\n") == "shell"


@pytest.mark.parametrize(
    ("language", "symbol", "first_line", "context"),
    [
        ("swift", "Cache", "/// Caches decoded values by key.", ""),
        ("swift", "Cache.value", "    /// Returns the value for `key`.",
         "@MainActor\npublic final class Cache<Value>: Store {"),
        ("swift", "Cache.Policy.describe", "        func describe() -> String {",
         "@MainActor\npublic final class Cache<Value>: Store {\nenum Policy {"),
        ("swift", "Cache.encoded", "    func encoded(_ key: String) throws -> Data? {",
         "extension Cache where Value: Codable {"),
        ("kotlin", "Cache", "/**", ""),
        ("kotlin", "Cache.get", "    /** Returns the value for [key]. */",
         "@Serializable\ndata class Cache<V>(val capacity: Int) : Store<V> {"),
        ("kotlin", "Cache.Companion.of", "        fun <V> of(vararg pairs: Pair<String, V>): Cache<V> {",
         "@Serializable\ndata class Cache<V>(val capacity: Int) : Store<V> {\ncompanion object {"),
        ("kotlin", "String.shout", "// Shouts.", ""),
        ("shell", "log", "# Prints a message when verbose.", ""),
        ("shell", "cleanup", "function cleanup {", ""),
    ],
)
def test_doc_comments_attributes_and_context(code, language, symbol, first_line, context):
    text, _ = CASES[language]
    chunk = next(c for c in code.chunk(PATHS[language], text, language) if c.symbol == symbol)
    assert chunk.text.split("\n")[0] == first_line
    assert chunk.context == context


def test_nested_functions_stay_inside(code):
    swift = next(c for c in code.chunk("a.swift", SWIFT, "swift") if c.symbol == "makeCache")
    assert "func helper() -> Int { 16 }" in swift.text
    shell = next(c for c in code.chunk("a.sh", SHELL, "shell") if c.symbol == "deploy")
    assert 'retry() { "$@" || "$@"; }' in shell.text


def test_swift_extension_of_nested_type_qualifies_members(code):
    text = "extension Cache.Policy: CustomStringConvertible {\n    var description: String {\n        \"p\"\n    }\n}\n"
    assert spans(code.chunk("a.swift", text, "swift")) == [
        (1, 1, "extension", "Cache.Policy"), (2, 4, "property", "Cache.Policy.description"),
    ]


def test_kotlin_object_with_only_data_is_module_code(code):
    # Like a JavaScript object literal, an object without functions is plain data.
    text = "object Defaults {\n    const val PORT = 8080\n}\n\nfun serve() {\n    listen(Defaults.PORT)\n}\n"
    assert spans(code.chunk("a.kt", text, "kotlin")) == [(1, 3, "module", ""), (5, 7, "function", "serve")]


def test_shell_comment_after_blank_line_or_trailing_is_not_attached(code):
    text = "# section\n\nfoo() {\n  :\n}\nx=1  # trailing\nbar() {\n  :\n}\n"
    assert spans(code.chunk("a.sh", text, "shell")) == [
        (1, 1, "module", ""), (3, 5, "function", "foo"), (6, 6, "module", ""), (7, 9, "function", "bar"),
    ]


# Mostly unparsable text per grammar (the bash grammar accepts almost anything but stray keywords).
BROKEN = {
    "swift": "} ) ]\n  let = ) ] ;\n} , )\n" * 5,
    "kotlin": "fun (:\n  val = = 1\nclass\n}}}} ((( \n" * 5,
    "shell": "fi done esac ;; ))\n  then fi ;; esac\n" * 5,
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_one_syntax_error_keeps_the_definitions(code, language):
    text, expected = CASES[language]
    lines = text.split("\n")
    broken = "\n".join(lines[:-3] + ["} ) ]] = = (( )"] + lines[-3:])
    chunks = code.chunk("f", broken, language)
    assert {c.symbol for c in chunks} == {symbol for *_, symbol in expected}
    check_invariants(chunks, broken)
    assert uncovered(chunks, broken) == []

