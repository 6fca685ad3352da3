"""Text for language-model pairs, split once into a held-out evaluation part and a calibration part that never
overlap. The default is the English news text `lee_background.cor` (300 Australian news articles, about 360 KB) that
ships inside gensim's wheel; for numbers comparable with papers, WikiText-2 (raw) is the evaluation text and C4's first
training shard the calibration text, both read from a data root. Nothing is downloaded."""
from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..files import package_file

LEE = ("gensim", "test/test_data/lee_background.cor")
WIKITEXT2 = ("wikitext-2-raw", "wiki.test.raw")
C4 = ("c4", "c4-train.00000-of-01024.json.gz")


@dataclass(frozen=True)
class Documents:
    """Calibration documents drawn as Wanda's and SparseGPT's code draws them from C4 (`get_c4` in their data
    utilities): with Python's `random` seeded by the case, pick a document at random until one has more than
    `length` tokens, then a window of `length` tokens at a random offset of it, once per sequence."""

    texts: list[str]
    encode: Callable[[str], list[int]]

    def sample(self, n: int, length: int, seed: int) -> Tensor:
        rng, out = random.Random(seed), []
        for _ in range(n):
            for _ in range(100 * len(self.texts)):
                ids = self.encode(self.texts[rng.randint(0, len(self.texts) - 1)])
                if len(ids) > length:
                    break
            else:
                raise ValueError(f"no calibration document has more than {length} tokens")
            start = rng.randint(0, len(ids) - length - 1)
            out.append(ids[start: start + length])
        return torch.tensor(out)


@dataclass(frozen=True)
class Text:
    """Token ids of the held-out `evaluation` part (a 1-d LongTensor) and the `calibration` part: token ids of one
    text, or documents (C4) to draw from."""

    evaluation: Tensor
    calibration: Tensor | Documents

    def chunks(self, length: int, count: int | None = None) -> Tensor:
        """The first `count` (all if None) non-overlapping chunks of `length` tokens of the evaluation part,
        (n, length)."""
        n = len(self.evaluation) // length if count is None else count
        if n * length > len(self.evaluation) or n < 1:
            raise ValueError(f"the evaluation text has {len(self.evaluation)} tokens: not {n} chunks of {length}")
        return self.evaluation[: n * length].view(n, length)

    def sample(self, n: int, length: int, seed: int) -> Tensor:
        """`n` calibration sequences of `length` tokens (n, length), seeded: at random offsets of the calibration text,
        as Wanda's and SparseGPT's code draw them from WikiText-2, or from its documents as they draw from C4."""
        if isinstance(self.calibration, Documents):
            return self.calibration.sample(n, length, seed)
        if len(self.calibration) <= length:
            raise ValueError(f"the calibration text has {len(self.calibration)} tokens: too few for {length}")
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, len(self.calibration) - length, (n,), generator=g)
        return torch.stack([self.calibration[s: s + length] for s in starts.tolist()])


def lee_path() -> Path:
    """`lee_background.cor` inside the installed gensim wheel (found without importing gensim)."""
    return package_file(LEE[0], LEE[1], "pip install gensim")


def lee(encode: Callable[[str], list[int]]) -> Text:
    """The Lee corpus: its 300 articles (one per line) in a fixed order; the first half of them (150 articles) is
    the evaluation part, the second half the calibration part, each tokenized as one text joined by newlines."""
    docs = lee_path().read_text(encoding="utf-8").splitlines()
    half = len(docs) // 2
    return Text(torch.tensor(encode("\n".join(docs[:half]))), torch.tensor(encode("\n".join(docs[half:]))))


def missing(name: str, root: str | Path | None) -> list[str]:
    """What the text `name` needs and does not find: gensim's Lee corpus, or WikiText-2 and C4 under the data root."""
    if name == "lee":
        try:
            lee_path()
        except FileNotFoundError as e:
            return [str(e)]
        return []
    if not root:
        return [f"a data root for {name!r} (--data-root DIR or BENCHSUITE_DATA) holding {'/'.join(WIKITEXT2)} and "
                f"{'/'.join(C4)}"]
    return [str(Path(root).joinpath(*parts)) for parts in (WIKITEXT2, C4) if not Path(root).joinpath(*parts).is_file()]


def _required(root: str | Path, parts: tuple[str, ...], what: str) -> Path:
    path = Path(root).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{what} is not under {root}: missing {path}. Put it there; nothing is downloaded")
    return path


def c4(root: str | Path, encode: Callable[[str], list[int]]) -> Documents:
    """The documents of C4's first English training shard (`c4/c4-train.00000-of-01024.json.gz` under `root`, one
    JSON object with a "text" per line, as allenai/c4 ships it), in the file's order; tokenized when drawn."""
    path = _required(root, C4, "C4's first training shard (allenai/c4, en/c4-train.00000-of-01024.json.gz)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    return Documents(texts, encode)


def wikitext2(root: str | Path, encode: Callable[[str], list[int]]) -> Text:
    """WikiText-2 (raw) from `root` as the evaluation part (its test file) and C4's first training shard as the
    calibration part, the papers' setting: Wanda and SparseGPT calibrate on C4 and report WikiText-2's test
    perplexity."""
    test = _required(root, WIKITEXT2, "WikiText-2 (raw, from wikitext-2-raw-v1.zip)")
    calibration = c4(root, encode)
    return Text(torch.tensor(encode(test.read_text(encoding="utf-8"))), calibration)
