r"""Token IDF weights for the OT marginals (``[loss.options] marginals = "weights"``).

Over a list of N texts tokenized by one tokenizer, token t's smoothed inverse document
frequency is

.. math:: \mathrm{idf}(t) = \log\frac{N + 1}{\mathrm{df}(t) + 1} + 1,

(df = number of texts containing t; the scikit-learn smoothing), so a token never seen
gets the largest weight and no weight is 0. The OT solver renormalises the weights of
each sentence's aligned tokens into its marginal, so frequent function words carry less
mass than content words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def idf_table(tokenizer, texts: Sequence[str], vocab_size: int | None = None) -> torch.Tensor:
    """``[V]`` float32 IDF of every token id of ``tokenizer`` over ``texts``."""
    size = int(vocab_size or len(tokenizer))
    df = np.zeros(size, dtype=np.int64)
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    for seq in ids:
        df[np.unique(np.asarray(seq, dtype=np.int64))] += 1
    n = len(ids)
    return torch.from_numpy(np.log((n + 1) / (df + 1)) + 1.0).float()
