"""Tests of the model-building pipeline (``coderag.train``) at a small scale.

A synthetic package is written to a temporary folder, mined, and a copy of the shipped
token table is trained on a few hundred pairs: the same code paths as the full build, in
seconds, with no network and no torch.
"""
from __future__ import annotations

import io
import json
import random
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from coderag.train import __main__ as cli
from coderag.train.data import LeakFilter
from coderag.train.data import Pair
from coderag.train.data import build_pairs
from coderag.train.data import mine_source
from coderag.train.data import read_pairs
from coderag.train.export import MODEL_FILES
from coderag.train.export import model_hash
from coderag.train.export import write_model
from coderag.train.mine import js_pairs
from coderag.train.mine import python_pairs
from coderag.train.pipeline import PairTokens
from coderag.train.pipeline import load_table
from coderag.train.pipeline import validate
from coderag.train.sources import Source
from coderag.train.sources import load_sources
from coderag.train.trainer import TrainConfig
from coderag.train.trainer import contrastive_step
from coderag.train.trainer import train
from coderag.train.vocab import code_vocabulary
from coderag.train.vocab import extend_vocabulary
from coderag.train.vocab import split_camel_case

SHIPPED = Path(cli.__file__).resolve().parent.parent / "models" / "default"

# Queries say one thing, code another: the model must learn that "erase" goes with "purge"
# and "customer" with "client"; held-out combinations test that it generalises.
VERBS = {"erase": "purge", "fetch": "download", "store": "persist", "check": "validate",
         "show": "render", "count": "tally", "sort": "arrange", "copy": "clone",
         "merge": "combine", "send": "transmit", "parse": "decode", "find": "locate"}
NOUNS = {"customer": "client", "invoice": "bill", "picture": "image", "message": "mail",
         "folder": "directory", "password": "secret", "address": "location", "order": "purchase",
         "setting": "option", "comment": "remark", "ticket": "issue", "song": "track",
         "car": "vehicle", "book": "volume", "city": "town", "price": "cost",
         "student": "pupil", "doctor": "physician", "house": "dwelling", "road": "street"}


def _function(verb: str, noun: str) -> str:
    v, n = VERBS[verb], NOUNS[noun]
    return (f"def {v}_{n}(self, {n}_id, retries=3):\n"
            f'    """{verb.capitalize()} the {noun} given by its id.\n\n    :param {n}_id: the key.\n    """\n'
            f"    {n} = self.{n}s.get({n}_id)\n"
            f"    result = self.backend.{v}({n}, retries=retries)\n"
            f"    return result\n\n\n")


def _combos() -> list[tuple[str, str]]:
    return [(v, n) for v in VERBS for n in NOUNS]


def write_wheel(folder: Path, combos: list[tuple[str, str]]) -> Path:
    """A wheel with one module per noun, a vendored copy and a test file (both must be skipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "synth-1.0-py3-none-any.whl"
    by_noun: dict[str, list[str]] = {}
    for verb, noun in combos:
        by_noun.setdefault(noun, []).append(_function(verb, noun))
    with zipfile.ZipFile(path, "w") as zf:
        for noun, funcs in sorted(by_noun.items()):
            zf.writestr(f"synth/{noun}.py", "class Service:\n" + "".join(
                "\n".join("    " + ln if ln else ln for ln in f.split("\n")) for f in funcs))
        zf.writestr("synth/_vendor/other.py", _function("copy", "car").replace("Copy the car", "Vendored copy text"))
        zf.writestr("synth/tests/test_x.py", _function("send", "song").replace("Send the song", "Test only text"))
    return path


def write_npm(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    src = ("/**\n * Merge two sorted lists into one list.\n * @param {Array} a\n */\n"
           "function mergeLists(a, b) {\n  const out = [];\n  while (a.length && b.length) {\n"
           "    out.push(a[0] < b[0] ? a.shift() : b.shift());\n  }\n  return out.concat(a, b);\n}\n")
    path = folder / "synthjs-1.0.0.tgz"
    with tarfile.open(path, "w:gz") as tf:
        for name, text in [("package/index.js", src), ("package/dist/index.js", src)]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


# ----------------------------------------------------------------------------- mining


def test_python_pairs_strip_docstring_and_skip_trivial():
    src = ('def f(x):\n    """Return the square of a number."""\n    y = x * x\n    z = y\n    return z\n\n'
           'def g():\n    """Do nothing at all here."""\n    pass\n\n'
           'def __repr__(self):\n    """Represent the object as text."""\n    a = 1\n    b = 2\n    return a\n')
    pairs = list(python_pairs(src))
    assert [(q, n) for q, _, n, _ in pairs] == [("Return the square of a number.", "f")]
    assert '"""' not in pairs[0][1] and "return z" in pairs[0][1]
    window = pairs[0][3]  # the index-style context: the file without this docstring
    assert window.startswith("def f(x):\n    y = x * x") and "def g" in window and "square" not in window


def test_python_class_pairs_are_optional_and_cut_to_a_window():
    body = "".join(f"    def m{i}(self):\n        return {i}\n" for i in range(30))
    src = ('class Cache:\n    """Keep recently used values in memory."""\n    size = 10\n' + body
           + 'class Empty(Exception):\n    """Raised when the cache has no value."""\n    pass\n')
    assert list(python_pairs(src)) == []
    [(query, code, name, _)] = list(python_pairs(src, classes=True))
    assert (query, name) == ("Keep recently used values in memory.", "Cache")
    lines = code.split("\n")
    assert lines[:2] == ["class Cache:", "    size = 10"] and len(lines) == 40 and '"""' not in code


def test_js_pairs_take_first_sentence_and_function_body():
    text = ("/**\n * Merge two sorted lists. More text.\n * @param {Array} a\n */\n"
            "function mergeLists(a, b) {\n  if (a) { return '}'; }\n  return b;\n}\nconst x = 1;\n")
    [(query, code, name, window)] = list(js_pairs("var a = 1;\n" + text))
    assert (query, name) == ("Merge two sorted lists.", "mergeLists")
    assert code.endswith("return b;\n}") and "@param" not in code
    assert "function mergeLists" in window and "const x = 1;" in window and "Merge" not in window


def test_mining_skips_vendored_tests_and_excluded(tmp_path):
    wheel = write_wheel(tmp_path / "pypi", _combos()[:30])
    pairs = mine_source(Source("pypi", "synth", "1.0"), wheel)
    assert len(pairs) == 30
    assert not any("Vendored" in p.query or "Test only" in p.query for p in pairs)
    js = mine_source(Source("npm", "synthjs", "1.0.0", ("dist/**",)), write_npm(tmp_path / "npm"))
    assert [(p.path, p.lang) for p in js] == [("index.js", "javascript")]


def test_build_pairs_dedupes_caps_and_drops_leaks(tmp_path):
    mk = lambda q, c, pkg: Pair(q, c, pkg, "m.py", "f", "python")  # noqa: E731
    leaked_code = "value = compute_the_leaked_answer(alpha, beta)\nreturn value + another_long_name_here"
    per_package = {
        "a==1": [mk(f"Do thing number {i} now.", f"x = {i}\ny = x\nreturn y", "a==1") for i in range(10)],
        "b==1": [mk("Do thing number 0 now.", "other = 1\nreturn other\n#", "b==1"),   # repeated query
                 mk("A fresh query that leaks code.", leaked_code, "b==1"),
                 mk("An evaluation query verbatim here.", "q = 2\nr = q\nreturn r", "b==1")],
    }
    corpus = tmp_path / "corpus"
    (corpus / "repo").mkdir(parents=True)
    (corpus / "queries.jsonl").write_text(json.dumps({"query": "An evaluation query, verbatim here!"}) + "\n")
    (corpus / "repo" / "x.py").write_text("def f():\n    " + leaked_code.replace("\n", "\n    ") + "\n")
    pairs, stats = build_pairs(per_package, cap=4, leak_filter=LeakFilter([corpus]), val_fraction=0.0)
    assert stats == {"mined": 13, "duplicate": 1, "leak": 2, "capped": 6, "kept": 4, "train": 4, "val": 0,
                     "javascript": 0}
    assert all(p.package == "a==1" for p in pairs)


def test_load_sources_requires_pins(tmp_path):
    good = tmp_path / "ok.json"
    listing = {"sources": [{"pypi": "attrs==23.2.0"}, {"npm": "@scope/x@1.2.3", "exclude": ["d/**"]}]}
    good.write_text(json.dumps(listing))
    assert [s.key for s in load_sources(good)] == ["attrs==23.2.0", "@scope/x@1.2.3"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sources": [{"pypi": "attrs"}]}))
    with pytest.raises(ValueError):
        load_sources(bad)


# ----------------------------------------------------------------------------- training


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(40, 6))
    q = [rng.integers(0, 40, size=rng.integers(1, 5)) for _ in range(5)]
    d = [rng.integers(0, 40, size=rng.integers(1, 9)) for _ in range(5)]
    _, unique, grad = contrastive_step(table, q, d, temperature=0.3)
    full = np.zeros_like(table)
    full[unique] = grad
    eps = 1e-5
    for row, col in [(unique[0], 0), (unique[len(unique) // 2], 3), (unique[-1], 5)]:
        up, down = table.copy(), table.copy()
        up[row, col] += eps
        down[row, col] -= eps
        numeric = (contrastive_step(up, q, d, 0.3)[0] - contrastive_step(down, q, d, 0.3)[0]) / (2 * eps)
        assert numeric == pytest.approx(full[row, col], rel=1e-3, abs=1e-6)


def test_token_dropout_keeps_order_and_at_least_one_token():
    from coderag.train.trainer import _drop_tokens

    rng = np.random.default_rng(1)
    texts = [np.arange(1000), np.array([7])]
    dropped = _drop_tokens(texts, 0.2, rng)
    assert 700 < len(dropped[0]) < 900 and np.all(np.diff(dropped[0]) > 0)
    assert [len(x) for x in _drop_tokens([np.array([7, 8])], 0.999999, rng)] == [1]


@pytest.fixture(scope="module")
def shipped():
    return load_table(SHIPPED)


def _split_pairs(combos):
    """Pairs of the synthetic package, with a held-out set of (verb, noun) combinations."""
    rng = random.Random(0)
    combos = list(combos)
    rng.shuffle(combos)
    held = set(combos[:60])
    pairs = []
    for verb, noun in combos:
        v, n = VERBS[verb], NOUNS[noun]
        code = _function(verb, noun).split('"""')
        pairs.append(Pair(f"{verb.capitalize()} the {noun} given by its id.", code[0] + code[2], "synth==1.0",
                          f"synth/{noun}.py", f"{v}_{n}", "python", "val" if (verb, noun) in held else "train"))
    return pairs


def test_training_improves_held_out_retrieval(shipped):
    table, tokenizer, unk_id, _ = shipped
    tokens = PairTokens(_split_pairs(_combos()), tokenizer, unk_id)
    q, d, pk = tokens.subset("train")
    vq, vd, _ = tokens.subset("val")
    before = validate(table, vq, vd)
    cfg = TrainConfig(epochs=6, batch_size=60, lr=5e-3, token_dropout=0.1)
    trained, history = train(table, q, d, cfg, packages=pk)
    after = validate(trained, vq, vd)
    assert len(history) == 6 and history[-1]["loss"] < history[0]["loss"]
    assert after > before + 0.15, (before, after)
    assert not np.shares_memory(trained, table)


def test_export_loads_with_model2vec_and_hash_is_stable(shipped, tmp_path):
    from model2vec import StaticModel

    table, tokenizer, _, config = shipped
    digest = write_model(tmp_path / "m", table, tokenizer, config, "---\nlicense: apache-2.0\n---\n{hash}\n")
    assert digest == model_hash(tmp_path / "m")
    assert (tmp_path / "m" / "README.md").read_text().endswith(digest + "\n")
    model = StaticModel.from_pretrained(str(tmp_path / "m"))
    emb = model.encode(["parse an http header", "def parse_header(line): return line.split(':')"])
    assert emb.shape == (2, table.shape[1]) and model.embedding.dtype == np.int8
    # Same table, same bytes: rebuilding is reproducible.
    assert write_model(tmp_path / "m2", table, tokenizer, config, "") == digest


def test_shipped_model_is_small_licensed_and_documented():
    size = sum((SHIPPED / name).stat().st_size for name in MODEL_FILES)
    assert size <= 16 * 2**20
    card = (SHIPPED / "README.md").read_text()
    assert "license: apache-2.0" in card
    digest = model_hash(SHIPPED)
    assert digest in card
    doc = SHIPPED.parent.parent.parent / "docs" / "model.md"
    if doc.exists():  # the docs are not shipped in the wheel, only in the repository
        assert digest in doc.read_text()


def test_camel_case_split_and_code_vocabulary(shipped):
    _, tokenizer, _, _ = shipped
    split = split_camel_case(tokenizer)
    assert split.encode("parseHTTPHeader", add_special_tokens=False).tokens[-2:] == ["http", "header"]
    assert split_camel_case(split).to_str() == split.to_str()
    words = code_vocabulary(["zqxv = getZqxv(zqxv)"] * 5 + ["the list of zqxv"], tokenizer, 10, min_count=5)
    assert words == ["zqxv"]
    table = np.random.default_rng(0).normal(size=(tokenizer.get_vocab_size(), 4))
    pieces = tokenizer.encode("zqxv", add_special_tokens=False).ids
    bigger, extended = extend_vocabulary(table, tokenizer, words)
    assert extended.encode("zqxv", add_special_tokens=False).ids == [len(table)]
    assert np.allclose(bigger[-1], table[pieces].mean(axis=0)) and np.array_equal(bigger[:-1], table)


def test_cli_mine_and_train_end_to_end(tmp_path, capsys):
    cache = tmp_path / "cache"
    write_wheel(cache / "pypi" / "synth-1.0", _combos())
    listing = tmp_path / "packages.json"
    listing.write_text(json.dumps({"sources": [{"pypi": "synth==1.0", "dist": "wheel"}]}))
    pairs_file = tmp_path / "pairs.jsonl"
    assert cli.main(["mine", "--packages", str(listing), "--cache", str(cache), "--no-download",
                     "--pairs", str(pairs_file)]) == 0
    pairs = read_pairs(pairs_file)
    assert len(pairs) == len(_combos())
    out = tmp_path / "model"
    assert cli.main(["train", "--pairs", str(pairs_file), "--init", str(SHIPPED), "--out", str(out),
                     "--epochs", "1", "--batch-size", "64", "--use-val"]) == 0
    assert "wrote" in capsys.readouterr().out
    card = (out / "README.md").read_text()
    assert "license: apache-2.0" in card and model_hash(out) in card and "python -m coderag.train build" in card
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps([{"model": "this", "system": "dense", "MRR@10": 0.5, "R@10": 0.9}]))
    digest = model_hash(out)
    assert cli.main(["card", "--out", str(out), "--metrics", str(metrics)]) == 0
    card = (out / "README.md").read_text()
    assert card.endswith("| this | dense | 0.5 | 0.9 |\n") and digest in card and model_hash(out) == digest
