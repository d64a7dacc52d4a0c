"""A deterministic, realistic corpus of datapoints for the benchmarks.

Everything is generated with seeded numpy and assembled column-wise with
Arrow compute kernels (no per-row Python), so 5,000,000 rows take seconds.
The same ``Scale`` always yields byte-identical tables, which is what lets
the lake and the PostgreSQL baseline be loaded with exactly the same rows.

Shape of one row (the lake's tabular input shape: JSON columns as JSON text):

    id               UUID string, stable across versions (a few % replaced per version)
    input            ~300 bytes of JSON: system + user messages, tool specs, metadata
    expected_output  ~150 bytes of JSON: answer text, a tool call, a confidence
    order            int64 position (sequential; or random with duplicates)
    persona          ~50 personas, Zipf-skewed, ~8 % null, some non-ASCII / mixed case
    tags             small JSON object (~2 % null)
    source           seed / synthetic / augmented / production, skewed
    agent            4 agent UUIDs + ~15 % null
    generator_model  6 models + null (mostly null for seed / production rows)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Bump when the generator's output changes, so cached lakes are rebuilt.
CORPUS_FORMAT = 1
OUT_DIR = Path(__file__).resolve().parent / "out"

SOURCES = ("seed", "synthetic", "augmented", "production")
SOURCE_P = (0.12, 0.58, 0.22, 0.08)
GENERATOR_MODELS = (
    "gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "llama-3.1-70b-instruct",
    "gemini-1.5-pro-002", "mistral-large-2407", "gpt-4o-mini-2024-07-18",
)
GENERATOR_P = (0.34, 0.26, 0.14, 0.12, 0.08, 0.06)
#: Share of rows with a null generator_model, per source.
GENERATOR_NULL_BY_SOURCE = {"seed": 0.8, "synthetic": 0.02, "augmented": 0.1, "production": 0.7}
AGENT_P = (0.40, 0.25, 0.15, 0.05)  # the rest (15 %) is null

_ADJ = ("impatient", "curious", "terse", "verbose", "confused", "expert", "skeptical", "polite",
        "angry", "elderly", "novice", "busy")
_ROLE = ("customer", "developer", "auditor", "student", "nurse", "traveller", "manager", "tester")
_EXTRA_PERSONAS = ("Émilie the accountant", "Zoë (power user)", "ZZ top-tier client", "admin",
                   "Ünal — support lead", "日本語ユーザー", "a", "Bob")
_TOOLS = ("search_orders", "refund_payment", "lookup_customer", "send_email", "create_ticket",
          "get_weather", "book_flight", "cancel_subscription", "query_inventory", "translate_text",
          "summarize_document", "schedule_meeting")
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "van", "del", "or", "en", "tri", "qu",
              "ab", "ex", "ion", "ar", "um", "is", "ber", "go", "ly", "ce", "fa", "zu", "hé", "ño")
_CATEGORIES = ("billing", "shipping", "account", "technical", "returns", "travel", "weather",
               "scheduling", "legal", "other")
_LANGS = ("en", "de", "fr", "es", "ja", "pt")
_CHANNELS = ("web", "email", "voice", "sms", "api")


@dataclass(frozen=True)
class Scale:
    """How big a corpus is. The default is issue 6's default scale."""

    big_versions: int = 10
    big_rows: int = 500_000
    small_datasets: int = 50
    small_rows: int = 2_000
    seed: int = 20240611

    @property
    def key(self) -> str:
        return (f"c{CORPUS_FORMAT}-big{self.big_versions}x{self.big_rows}"
                f"-small{self.small_datasets}x{self.small_rows}-s{self.seed}")

    @property
    def total_rows(self) -> int:
        return self.big_versions * self.big_rows + self.small_datasets * self.small_rows

    @classmethod
    def parse(cls, text: str) -> "Scale":
        """``default``, ``small`` / ``tiny``, or ``VxR[+DxS]`` (e.g. ``10x500000+50x2000``)."""
        presets = {
            "default": cls(),
            "small": cls(big_versions=10, big_rows=50_000, small_datasets=10, small_rows=2_000),
            "tiny": cls(big_versions=3, big_rows=5_000, small_datasets=3, small_rows=500),
        }
        if text in presets:
            return presets[text]
        big, _, small = text.partition("+")
        v, r = (int(x.replace("_", "")) for x in big.lower().split("x"))
        if small:
            d, s = (int(x.replace("_", "")) for x in small.lower().split("x"))
        else:
            d, s = 0, 0
        return cls(big_versions=v, big_rows=r, small_datasets=d, small_rows=s)


# -- vectorised helpers --------------------------------------------------------

def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in key]))


_HEX_PAIRS = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16)


def uuid_strings(rng: np.random.Generator, n: int) -> pa.StringArray:
    """``n`` random version-4 UUIDs as canonical lower-case strings."""
    return _as_strings(_uuid_bytes(rng, n), 36)


def _as_strings(chars: np.ndarray, width: int) -> pa.StringArray:
    n = len(chars)
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


def _uuid_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    b = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    h = _HEX_PAIRS[b].view(np.uint8).reshape(n, 32)
    out = np.empty((n, 36), np.uint8)
    out[:, [8, 13, 18, 23]] = ord("-")
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = h[:, 0:8], h[:, 8:12], h[:, 12:16]
    out[:, 19:23], out[:, 24:36] = h[:, 16:20], h[:, 20:32]
    return out


def _pick(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    return pool.take(pa.array(idx, pa.int32()))


def _num(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def _weighted(rng: np.random.Generator, n: int, p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int32)


class _Pools:
    """Fixed vocabularies (built once, deterministic)."""

    def __init__(self, seed: int):
        rng = _rng(seed, 1)
        syll = np.array(_SYLLABLES)
        words = {"".join(syll[rng.integers(0, len(syll), size=rng.integers(2, 4))]) for _ in range(6000)}
        self.words = np.array(sorted(words))
        w = self.words[rng.integers(0, len(self.words), size=(1 << 16, 4))]
        self.phrases = pa.array([" ".join(x) for x in w])
        self.personas = pa.array([f"{a} {r}" for a in _ADJ for r in _ROLE][:42] + list(_EXTRA_PERSONAS))
        self.tools = pa.array(_TOOLS)
        self.models = pa.array(GENERATOR_MODELS)
        self.sources = pa.array(SOURCES)
        self.categories = pa.array(_CATEGORIES)
        self.langs = pa.array(_LANGS)
        self.channels = pa.array(_CHANNELS)
        self.difficulty = pa.array(("easy", "medium", "hard"))
        self.agents = uuid_strings(_rng(seed, 2), len(AGENT_P))


_POOLS: dict[int, _Pools] = {}


def pools(seed: int) -> _Pools:
    if seed not in _POOLS:
        _POOLS[seed] = _Pools(seed)
    return _POOLS[seed]


def agents(seed: int = Scale.seed) -> list[str]:
    """The agent UUIDs rows are attributed to, most frequent first."""
    return pools(seed).agents.to_pylist()


# -- tables --------------------------------------------------------------------

def datapoints_table(n: int, *, seed: int, dataset: int, version: int, duplicate_orders: bool = False,
                     replaced_share: float = 0.05) -> pa.Table:
    """Rows of version ``version`` of dataset number ``dataset``.

    Ids are stable across versions of one dataset, except ``replaced_share``
    of them which each version > 1 draws anew. With ``duplicate_orders`` the
    ``order`` column is random with many duplicates and the rows come in no
    particular order (the lake must sort them); otherwise ``order`` = position.
    """
    P = pools(seed)
    id_chars = _uuid_bytes(_rng(seed, 10, dataset), n)
    rng = _rng(seed, 11, dataset, version)
    if version > 1 and replaced_share > 0:
        fresh = np.flatnonzero(rng.random(n) < replaced_share)
        id_chars[fresh] = _uuid_bytes(rng, len(fresh))
    ids = _as_strings(id_chars, 36)

    ph = lambda: _pick(P.phrases, rng.integers(0, len(P.phrases), n))  # noqa: E731
    tool_a = rng.integers(0, len(P.tools), n)
    tool_b = (tool_a + rng.integers(1, len(P.tools), n)) % len(P.tools)
    inp = _join(
        '{"messages":[{"role":"system","content":"You are a helpful agent. ', ph(), '."},',
        '{"role":"user","content":"', ph(), ", ", ph(), '?"}],',
        '"tools":[{"name":"', _pick(P.tools, tool_a), '","parameters":{"required":["id"]}},',
        '{"name":"', _pick(P.tools, tool_b), '"}],',
        '"metadata":{"turn":', _num(rng.integers(1, 12, n)), ',"channel":"',
        _pick(P.channels, rng.integers(0, len(P.channels), n)), '"}}',
    )
    expected = _join(
        '{"answer":"', ph(), " ", ph(), '.","tool_calls":[{"name":"', _pick(P.tools, tool_a),
        '","arguments":{"id":"', _num(rng.integers(10_000_000, 99_999_999, n)), '"}}],"confidence":0.',
        _num(rng.integers(10, 99, n)), "}",
    )
    extra = np.where(rng.random(n) < 0.1, ',"flaky":true', "")
    tags = _join(
        '{"difficulty":"', _pick(P.difficulty, rng.integers(0, 3, n)), '","category":"',
        _pick(P.categories, _weighted(rng, n, [1 / (k + 2) for k in range(len(_CATEGORIES))])),
        '","lang":"', _pick(P.langs, _weighted(rng, n, (0.7, 0.08, 0.07, 0.07, 0.04, 0.04))), '"',
        pa.array(extra, pa.string()), "}",
    )
    tags = _null_where(tags, rng.random(n) < 0.02)

    persona = _pick(P.personas, _weighted(rng, n, [1 / (k + 3) for k in range(len(P.personas))]))
    persona = _null_where(persona, rng.random(n) < 0.08)

    src_idx = _weighted(rng, n, SOURCE_P)
    source = _pick(P.sources, src_idx)
    gm = _pick(P.models, _weighted(rng, n, GENERATOR_P))
    null_p = np.array([GENERATOR_NULL_BY_SOURCE[s] for s in SOURCES])[src_idx]
    gm = _null_where(gm, rng.random(n) < null_p)

    agent_idx = _weighted(rng, n, AGENT_P + (1 - sum(AGENT_P),))
    agent = _null_where(_pick(P.agents, np.minimum(agent_idx, len(AGENT_P) - 1)), agent_idx == len(AGENT_P))

    if duplicate_orders:
        order = rng.integers(0, max(1, n // 3), n).astype(np.int64)
    else:
        order = np.arange(n, dtype=np.int64)
    return pa.table({
        "id": ids, "input": inp, "expected_output": expected, "order": pa.array(order, pa.int64()),
        "persona": persona, "tags": tags, "source": source, "agent": agent, "generator_model": gm,
    })


@dataclass(frozen=True)
class Part:
    """One version of one dataset of the corpus."""

    name: str
    dataset: int
    version: int
    rows: int

    def table(self, scale: Scale) -> pa.Table:
        return datapoints_table(self.rows, seed=scale.seed, dataset=self.dataset, version=self.version)


BIG = "bench-big"


def small_name(i: int) -> str:
    return f"bench-small-{i:03d}"


def parts(scale: Scale) -> Iterator[Part]:
    """Every (dataset, version) of the corpus, in commit order."""
    for v in range(1, scale.big_versions + 1):
        yield Part(BIG, 0, v, scale.big_rows)
    for i in range(scale.small_datasets):
        yield Part(small_name(i), i + 1, 1, scale.small_rows)


# -- lakes ---------------------------------------------------------------------

def build_lake(root: str | os.PathLike[str], scale: Scale, *, log=print) -> dict[str, str]:
    """Write the corpus into a (new) lake at ``root``; returns {dataset name: id}."""
    from overmind_lake import Lake

    lake = Lake(root)
    ids: dict[str, str] = {}
    gen = write = 0.0
    for part in parts(scale):
        t0 = time.perf_counter()
        table = part.table(scale)
        t1 = time.perf_counter()
        if part.name not in ids:
            v = lake.create_dataset(part.name, table, description=f"benchmark corpus {scale.key}",
                                    message=f"v{part.version}")
            ids[part.name] = v.dataset_id
        else:
            lake.add_version(ids[part.name], table, message=f"v{part.version}")
        t2 = time.perf_counter()
        gen += t1 - t0
        write += t2 - t1
        if part.dataset == 0 and log:
            log(f"  lake: {part.name} v{part.version} ({part.rows:,} rows) written in {t2 - t1:.1f} s")
    if log:
        log(f"  lake built: generation {gen:.1f} s, lake writes {write:.1f} s")
    return ids


#: Parts of the package that cannot change what a written lake looks like.
_NOT_WRITE_PATH = ("cli", "server", "pull.py", "demo.py", "__main__.py")


def lake_code_fingerprint() -> str:
    """sha256 of the overmind_lake sources that may shape a written lake.

    A cached corpus lake is reused only while this is unchanged, so a change
    to the writer (row groups, sort indexes, ...) is always measured on a lake
    it wrote itself.
    """
    import hashlib

    import overmind_lake

    pkg = Path(overmind_lake.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        if rel.split("/")[0] in _NOT_WRITE_PATH:
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cached_lake(scale: Scale, *, out_dir: Path = OUT_DIR, reuse: str = "auto",
                log=print) -> tuple[Path, dict[str, str]]:
    """The corpus as a lake under ``out_dir``, built once per scale and lake code.

    Each cached lake lives in ``lake-<scale>-<lake code fingerprint>``, is
    built in a temporary directory and renamed into place when complete, under
    a file lock: several benchmark processes may ask for it at once, and a
    lake one of them is reading is never rebuilt or removed under it (older
    fingerprints of a scale are pruned after an hour, keeping the newest two).

    ``reuse``: ``auto`` reuses the lake written by the current lake code;
    ``always`` also accepts the newest lake of this scale written by other
    code; ``never`` rebuilds.
    """
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = lake_code_fingerprint()
    root = out_dir / f"lake-{scale.key}-{fingerprint}"
    with open(out_dir / f".lock-{scale.key}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        candidates = [root]
        if reuse == "always":
            candidates += sorted(out_dir.glob(f"lake-{scale.key}-*/_bench_corpus.json"),
                                 key=lambda m: m.stat().st_mtime, reverse=True)
            candidates = [c.parent if c.name == "_bench_corpus.json" else c for c in candidates]
        if reuse != "never":
            for cand in candidates:
                marker = cand / "_bench_corpus.json"
                if marker.exists():
                    meta = json.loads(marker.read_text())
                    if meta.get("scale") == asdict(scale):
                        if log:
                            log(f"corpus: reusing cached lake {cand}")
                        return cand, meta["ids"]
        tmp = out_dir / f".building-{scale.key}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        if log:
            log(f"corpus: building lake {root} ({scale.total_rows:,} rows)")
        ids = build_lake(tmp, scale, log=log)
        (tmp / "_bench_corpus.json").write_text(
            json.dumps({"scale": asdict(scale), "ids": ids, "lake_code": fingerprint}, indent=1))
        if root.exists():
            shutil.rmtree(root)
        os.rename(tmp, root)
        _prune(out_dir, scale, keep=root)
    return root, ids


def _prune(out_dir: Path, scale: Scale, keep: Path, max_age_s: float = 3600.0) -> None:
    lakes = sorted((m.parent for m in out_dir.glob(f"lake-{scale.key}-*/_bench_corpus.json")),
                   key=lambda d: (d / "_bench_corpus.json").stat().st_mtime, reverse=True)
    for d in lakes[2:]:
        if d != keep and time.time() - (d / "_bench_corpus.json").stat().st_mtime > max_age_s:
            shutil.rmtree(d, ignore_errors=True)
    legacy = out_dir / f"lake-{scale.key}"  # layout before fingerprints
    marker = legacy / "_bench_corpus.json"
    if marker.exists() and time.time() - marker.stat().st_mtime > max_age_s:
        shutil.rmtree(legacy, ignore_errors=True)


def dir_bytes(path: str | os.PathLike[str]) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


if __name__ == "__main__":  # quick look: python -m benchmarks.corpus
    t = time.perf_counter()
    tab = datapoints_table(500_000, seed=Scale.seed, dataset=0, version=1)
    dt = time.perf_counter() - t
    print(f"500,000 rows in {dt:.2f} s ({500_000 / dt:,.0f} rows/s)")
    for col in ("input", "expected_output", "tags"):
        lens = pc.utf8_length(tab[col])
        print(f"{col}: mean {pc.mean(lens).as_py():.0f} chars")
    print(tab.slice(0, 2).to_pylist())
