"""Text for language-model pairs, split once into a held-out evaluation part and a calibration part that never
overlap. The default is the English news text `lee_background.cor` (300 Australian news articles, about 360 KB) that
ships inside gensim's wheel; WikiText-2 (raw) is read from a data root for numbers comparable with papers. Nothing
is downloaded."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..files import package_file

LEE = ("gensim", "test/test_data/lee_background.cor")
WIKITEXT2 = ("wikitext-2-raw", "wiki.train.raw", "wiki.test.raw")


@dataclass(frozen=True)
class Text:
    """Token ids of the held-out `evaluation` part and of the `calibration` part (each a 1-d LongTensor)."""

    evaluation: Tensor
    calibration: Tensor

    def chunks(self, length: int, count: int | None = None) -> Tensor:
        """The first `count` (all if None) non-overlapping chunks of `length` tokens of the evaluation part, (n, length)."""
        n = len(self.evaluation) // length if count is None else count
        if n * length > len(self.evaluation) or n < 1:
            raise ValueError(f"the evaluation text has {len(self.evaluation)} tokens: not {n} chunks of {length}")
        return self.evaluation[: n * length].view(n, length)

    def sample(self, n: int, length: int, seed: int) -> Tensor:
        """`n` calibration sequences of `length` tokens at random offsets of the calibration part (seeded), (n, length),
        as Wanda's and SparseGPT's code draw theirs."""
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


def wikitext2(root: str | Path, encode: Callable[[str], list[int]]) -> Text:
    """WikiText-2 (raw) from `root`: the test file is the evaluation part, the training file the calibration part."""
    folder = Path(root) / WIKITEXT2[0]
    files = [folder / name for name in WIKITEXT2[1:]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"WikiText-2 (raw) is not under {root}: missing {', '.join(missing)}. Put the files of "
                                f"wikitext-2-raw-v1.zip there ({WIKITEXT2[0]}/{WIKITEXT2[1]}, {WIKITEXT2[2]}); "
                                f"nothing is downloaded")
    train, test = (f.read_text(encoding="utf-8") for f in files)
    return Text(torch.tensor(encode(test)), torch.tensor(encode(train)))
