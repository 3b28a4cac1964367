"""The CNN-1D, CNN-2D and RNN networks (``torch.nn`` modules) and the CNN-2D's dense pass.

Architectures
-------------
- :class:`CNN1D` — LeNet-style network on the factor vector (seed 002, section 3.3.1): the
  C channels are a 1 x C signal; Conv1d(1 -> ``channels``, kernel ``kernel_size``) -> ReLU ->
  MaxPool1d(``pool_size``) -> FC(``fc_units``) -> ReLU -> dropout -> 1 logit. The paper's
  values are 14 channels, kernel 2, pool 2, FC 20, dropout 0.2, Adam with lr 0.001.
- :class:`CNN2D` — seed 004, section 3.3.1, on k x k x C patches: Conv2d 3 x 3 (32, 'same')
  -> BatchNorm -> ReLU -> MaxPool 2 -> dropout 0.2 -> Conv2d 3 x 3 (64, 'same') -> ReLU ->
  MaxPool 2 -> dropout 0.2 -> FC 128 -> ReLU -> dropout 0.3 -> 1 logit. For k = 9 the maps
  are 9 x 9 -> 4 x 4 -> 2 x 2 x 64, as in the paper.
- :class:`RNNNet` — seed 000: the C channels are read as a sequence of C steps by an LSTM,
  GRU or plain RNN; the last hidden state -> dropout -> 1 logit. Each step is the channel's
  value, or (``embedding_dim`` > 0) a learned per-channel affine embedding of it,
  ``x_t w_t + b_t``, which tells the network which factor it is reading.

Whole-map prediction of the CNN-2D (:func:`cnn2d_dense_logits`) is exact and shares work
between overlapping windows: convolving every window separately repeats most of the
arithmetic, but the 'same' zero padding at window edges makes a plain fully convolutional
pass differ at the borders. The dense pass therefore tracks, per layer, the few *variants*
a position can be in (which convolution taps fall outside the window), computes each
variant once for the whole block, and assembles each window's 2 x 2 x 64 features from
shifted slices. See the function's docstring.

Training, the Lightning module and the estimators that build these networks are in
:mod:`slidemap.models.torch_models`. Imports torch (not Lightning): import it lazily.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slidemap.errors import ConfigError

__all__ = ["CNN1D", "CNN2D", "RNNNet", "cnn2d_dense_logits"]


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
class CNN1D(nn.Module):
    """LeNet-style 1-D CNN on the factor vector (seed 002).

    Parameters
    ----------
    n_features
        Length C of the input vector.
    channels
        Convolution filters.
    kernel_size
        Convolution kernel length (cells of the vector).
    pool_size
        Max-pooling window and stride.
    fc_units
        Units of the fully connected hidden layer.
    dropout
        Dropout probability after the hidden layer.
    """

    def __init__(
        self,
        n_features: int,
        channels: int = 14,
        kernel_size: int = 2,
        pool_size: int = 2,
        fc_units: int = 20,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        length = (n_features - kernel_size + 1) // pool_size
        if length < 1:
            raise ConfigError(
                f"config keys 'models.cnn1d.kernel_size'/'pool_size': a vector of "
                f"{n_features} factor channels is too short for kernel {kernel_size} and "
                f"pool {pool_size}. Use smaller values or select more factors."
            )
        self.conv = nn.Conv1d(1, channels, kernel_size)
        self.pool = nn.MaxPool1d(pool_size)
        self.fc = nn.Linear(channels * length, fc_units)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(fc_units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[n]`` of inputs ``[n, C]``."""
        z = self.pool(F.relu(self.conv(x.unsqueeze(1))))
        z = self.drop(F.relu(self.fc(z.flatten(1))))
        return self.out(z).squeeze(1)


class CNN2D(nn.Module):
    """Two-block CNN on k x k x C neighbourhood patches (seed 004).

    Parameters
    ----------
    in_channels
        C, input channels.
    patch_size
        k, odd, at least 5 (so that two 2 x 2 poolings leave at least 1 x 1).
    conv1_filters, conv2_filters
        Filters of the two 3 x 3 convolutions.
    fc_units
        Units of the fully connected hidden layer.
    dropout_conv, dropout_fc
        Dropout after each convolution block and after the hidden layer.
    """

    def __init__(
        self,
        in_channels: int,
        patch_size: int = 9,
        conv1_filters: int = 32,
        conv2_filters: int = 64,
        fc_units: int = 128,
        dropout_conv: float = 0.2,
        dropout_fc: float = 0.3,
    ) -> None:
        super().__init__()
        if patch_size % 2 == 0 or patch_size < 5:
            raise ConfigError(
                f"config key 'tiles.patch_size': the CNN-2D needs an odd patch size of at "
                f"least 5 cells, got {patch_size}."
            )
        self.patch_size = patch_size
        self.conv1 = nn.Conv2d(in_channels, conv1_filters, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(conv1_filters)
        self.drop1 = nn.Dropout(dropout_conv)
        self.conv2 = nn.Conv2d(conv1_filters, conv2_filters, 3, padding=1)
        self.drop2 = nn.Dropout(dropout_conv)
        side = (patch_size // 2) // 2
        self.fc = nn.Linear(conv2_filters * side * side, fc_units)
        self.drop3 = nn.Dropout(dropout_fc)
        self.out = nn.Linear(fc_units, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the features ``[n, 64 s s]`` of patches ``[n, C, k, k]`` before the FC."""
        z = self.drop1(F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2))
        z = self.drop2(F.max_pool2d(F.relu(self.conv2(z)), 2))
        return z.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[n]`` of patches ``[n, C, k, k]``."""
        z = self.drop3(F.relu(self.fc(self.features(x))))
        return self.out(z).squeeze(1)


class RNNNet(nn.Module):
    """Recurrent network reading the C channels as a sequence of C steps (seed 000).

    Parameters
    ----------
    n_features
        Sequence length C.
    embedding_dim
        0 = each step is the channel's value; d > 0 = each step is ``x_t w_t + b_t`` with
        learned per-channel vectors ``w_t``, ``b_t`` of length d.
    cell
        ``lstm``, ``gru`` or ``rnn`` (Elman, tanh).
    hidden_size
        Hidden units per direction.
    num_layers
        Stacked recurrent layers.
    bidirectional
        Read the sequence in both directions.
    dropout
        Dropout on the final hidden state (and between stacked layers).
    """

    def __init__(
        self,
        n_features: int,
        embedding_dim: int = 0,
        cell: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        kinds = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
        if cell not in kinds:
            raise ConfigError(
                f"config key 'models.rnn.cell': {cell!r} is not one of {list(kinds)}."
            )
        self.embedding_dim = int(embedding_dim)
        if self.embedding_dim > 0:
            self.embed_w = nn.Parameter(0.5 * torch.randn(n_features, self.embedding_dim))
            self.embed_b = nn.Parameter(torch.zeros(n_features, self.embedding_dim))
        self.rnn = kinds[cell](
            input_size=max(1, self.embedding_dim),
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dirs = 2 if bidirectional else 1
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size * self.dirs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[n]`` of inputs ``[n, C]``."""
        steps = x.unsqueeze(-1)
        if self.embedding_dim > 0:
            steps = steps * self.embed_w + self.embed_b
        _, h = self.rnn(steps)
        if isinstance(h, tuple):  # LSTM returns (h_n, c_n)
            h = h[0]
        last = torch.cat(list(h[-self.dirs :]), dim=1)
        return self.out(self.drop(last)).squeeze(1)


# ---------------------------------------------------------------------------------------------
# Dense (whole-block) evaluation of the CNN-2D
# ---------------------------------------------------------------------------------------------
def _bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel scale and shift of a BatchNorm layer in evaluation mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


@torch.inference_mode()
def cnn2d_dense_logits(net: CNN2D, frame: torch.Tensor) -> torch.Tensor:
    """Logits of every k x k window of a channel frame, equal to ``net(patches)`` in eval mode.

    Parameters
    ----------
    net
        A :class:`CNN2D` (evaluated as in ``net.eval()``: dropout off, BatchNorm running
        statistics).
    frame
        ``[C, H + 2h, W + 2h]`` preprocessed channels (h = k // 2).

    Returns
    -------
    torch.Tensor
        ``[H, W]`` logits; element (i, j) is the logit of the window whose top-left cell is
        frame (i, j), i.e. centred on frame (i + h, j + h).

    Notes
    -----
    Positions are tracked per axis. A first-convolution output at window position p
    (0..k-1) sees taps p-1..p+1; the taps outside the window read the 'same' zero padding.
    Its *variant* is (has a left neighbour, has a right neighbour). Every variant pair is
    one masked 3 x 3 convolution of the whole frame. The first pooling combines two
    variants per axis; the second convolution (linear) is split into its nine taps: each
    (pooled variant, tap) product is one 1 x 1 convolution of the frame, and the output of
    window position a is the sum of the valid taps' products read at frame offset
    2(a + da). With k = 9 that is 4 masked first convolutions, 25 tap products and 100
    shifted additions for the whole block, instead of 81 + 16 nine-tap convolutions per
    window — about 4x fewer operations, and exact (float32 rounding only).
    """
    k = net.patch_size
    h = k // 2
    n2 = k // 2  # positions after the first pooling
    n4 = n2 // 2  # positions after the second pooling
    C, Hf, Wf = frame.shape
    H, W = Hf - 2 * h, Wf - 2 * h
    x = frame.unsqueeze(0)
    # first layer variants per position: (has left neighbour, has right neighbour)
    v1 = [(p > 0, p < k - 1) for p in range(k)]
    pool1 = [(v1[2 * a], v1[2 * a + 1]) for a in range(n2)]
    scale1, shift1 = _bn_affine(net.bn1)
    w1, b1 = net.conv1.weight, net.conv1.bias

    layer1: dict[tuple, torch.Tensor] = {}

    def first(rv: tuple[bool, bool], cv: tuple[bool, bool]) -> torch.Tensor:
        key = (rv, cv)
        if key not in layer1:
            mask = torch.ones(3, 3, dtype=w1.dtype, device=w1.device)
            if not rv[0]:
                mask[0, :] = 0
            if not rv[1]:
                mask[2, :] = 0
            if not cv[0]:
                mask[:, 0] = 0
            if not cv[1]:
                mask[:, 2] = 0
            y = F.conv2d(x, w1 * mask, b1, padding=1)[0]
            layer1[key] = torch.relu_(y * scale1[:, None, None] + shift1[:, None, None])
        return layer1[key]

    pooled: dict[tuple, torch.Tensor] = {}

    def pooled1(ra: tuple, ca: tuple) -> torch.Tensor:
        key = (ra, ca)
        if key not in pooled:
            out = None
            for i in (0, 1):
                for j in (0, 1):
                    m = first(ra[i], ca[j])[:, i : i + Hf - 1, j : j + Wf - 1]
                    out = m.clone() if out is None else torch.maximum(out, m, out=out)
            pooled[key] = out
        return pooled[key]

    w2, b2 = net.conv2.weight, net.conv2.bias
    c2 = w2.shape[0]
    taps: dict[tuple, torch.Tensor] = {}

    def tap(pa: int, pb: int, dr: int, dc: int) -> torch.Tensor:
        key = (pool1[pa], pool1[pb], dr, dc)
        if key not in taps:
            P = pooled1(pool1[pa], pool1[pb])
            taps[key] = torch.einsum("oc,chw->ohw", w2[:, :, dr + 1, dc + 1], P)
        return taps[key]

    feats = []
    for qa in range(n4):
        for qb in range(n4):
            best = None
            for a in (2 * qa, 2 * qa + 1):
                for b in (2 * qb, 2 * qb + 1):
                    g = b2[:, None, None].expand(c2, H, W).clone()
                    for dr in (-1, 0, 1):
                        if not 0 <= a + dr < n2:
                            continue
                        for dc in (-1, 0, 1):
                            if not 0 <= b + dc < n2:
                                continue
                            r0, c0 = 2 * (a + dr), 2 * (b + dc)
                            g += tap(a + dr, b + dc, dr, dc)[:, r0 : r0 + H, c0 : c0 + W]
                    g.relu_()
                    best = g if best is None else torch.maximum(best, g, out=best)
            feats.append(best)
    z = torch.stack(feats, 1).reshape(c2 * n4 * n4, H * W)  # channel-major, as flatten()
    hidden = torch.relu(net.fc.weight @ z + net.fc.bias[:, None])
    return (net.out.weight @ hidden + net.out.bias[:, None]).reshape(H, W)
