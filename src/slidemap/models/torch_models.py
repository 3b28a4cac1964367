"""CNN-1D, CNN-2D and RNN classifiers as PyTorch Lightning modules.

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

Training (:class:`TorchModel`) uses a :class:`ArrayDataModule`, binary cross-entropy on the
logit with ``pos_weight`` for class weighting, Adam, early stopping on the validation loss of
a stratified inner split (the best epoch's weights are kept), ``seed_everything`` and
deterministic algorithms, ``num_workers=0``, per-epoch CSV logs and a progress bar written
to the job's log.

Whole-map prediction of the CNN-2D (:func:`cnn2d_dense_logits`) is exact and shares work
between overlapping windows: convolving every window separately repeats most of the
arithmetic, but the 'same' zero padding at window edges makes a plain fully convolutional
pass differ at the borders. The dense pass therefore tracks, per layer, the few *variants*
a position can be in (which convolution taps fall outside the window), computes each
variant once for the whole block, and assembles each window's 2 x 2 x 64 features from
shifted slices. See the function's docstring.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from slidemap.errors import ConfigError
from slidemap.models.base import Estimator
from slidemap.models.sklearn_models import inner_split, positive_weight

__all__ = [
    "CNN1D",
    "CNN2D",
    "RNNNet",
    "cnn2d_dense_logits",
    "BinaryClassifier",
    "ArrayDataModule",
    "LogProgress",
    "TorchModel",
    "CNN1DModel",
    "CNN2DModel",
    "RNNModel",
]

log = logging.getLogger(__name__)

# Lightning's own chatter (GPU available..., tips about workers) is noise in a job log.
for _name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def _quiet_lightning() -> None:
    """Silence Lightning warnings that say nothing about the user's data or model."""
    for pattern in (
        r".*does not have many workers.*",
        r".*number of training batches.*",
        r".*srun. command is available.*",
        r".*Experiment logs directory .* exists and is not empty.*",
        r".*isinstance\(treespec, LeafSpec\).*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


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


# ---------------------------------------------------------------------------------------------
# Lightning: module, data module, callbacks
# ---------------------------------------------------------------------------------------------
class BinaryClassifier(pl.LightningModule):
    """Lightning wrapper: a network producing one logit, trained with weighted BCE and Adam.

    Parameters
    ----------
    net
        The network (``[n, ...] -> [n]`` logits).
    learning_rate
        Adam learning rate.
    weight_decay
        L2 penalty of Adam.
    pos_weight
        Weight of the positive class in the loss (class weighting).
    """

    def __init__(
        self,
        net: nn.Module,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        pos_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net
        self.register_buffer("pos_weight", torch.tensor([float(pos_weight)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch."""
        return self.net(x)

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.binary_cross_entropy_with_logits(self(x), y, pos_weight=self.pos_weight)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        """Weighted binary cross-entropy of one batch."""
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[1]))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        """Compute the validation loss (the early-stopping criterion)."""
        loss = self._loss(batch)
        self.log("val_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[1]))
        return loss

    def configure_optimizers(self):
        """Adam."""
        return torch.optim.Adam(
            self.parameters(),
            lr=self.hparams.learning_rate,
            weight_decay=self.hparams.weight_decay,
        )


class ArrayDataModule(pl.LightningDataModule):
    """In-memory training and validation arrays served in seeded, shuffled mini-batches.

    Parameters
    ----------
    x_train, y_train
        Training channels and 0/1 labels.
    x_val, y_val
        Early-stopping rows, or None.
    batch_size
        Mini-batch size.
    seed
        Seed of the shuffling generator.
    """

    def __init__(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        *,
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_set = self._dataset(x_train, y_train)
        self.val_set = None if x_val is None else self._dataset(x_val, y_val)
        self.batch_size = batch_size
        self.seed = seed

    @staticmethod
    def _dataset(x: np.ndarray, y: np.ndarray) -> torch.utils.data.TensorDataset:
        return torch.utils.data.TensorDataset(
            torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32),
            torch.as_tensor(np.asarray(y), dtype=torch.float32),
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        """Shuffled batches (seeded generator, no worker processes)."""
        gen = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            self.train_set, batch_size=self.batch_size, shuffle=True, generator=gen, num_workers=0
        )

    def val_dataloader(self) -> torch.utils.data.DataLoader | list:
        """Return validation batches in order (empty without a validation split)."""
        if self.val_set is None:
            return []
        return torch.utils.data.DataLoader(self.val_set, batch_size=4096, num_workers=0)


class KeepBestWeights(pl.Callback):
    """Keep the weights of the epoch with the lowest validation loss; restore them at the end."""

    def __init__(self) -> None:
        self.best = float("inf")
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Store a copy of the weights when the validation loss improved."""
        val = trainer.callback_metrics.get("val_loss")
        if val is not None and float(val) < self.best:
            self.best = float(val)
            self.best_epoch = trainer.current_epoch
            self.state = copy.deepcopy(module.net.state_dict())

    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Load the best weights back into the network."""
        if self.state is not None:
            module.net.load_state_dict(self.state)


class LogProgress(pl.callbacks.ProgressBar):
    """A progress bar that writes a line to the job's log every ``every`` epochs.

    Parameters
    ----------
    name
        Name of the fit (e.g. ``spatial_fold2``).
    every
        Log every ``every`` epochs (and the last one).
    """

    def __init__(self, name: str, every: int = 10) -> None:
        super().__init__()
        self.name = name
        self.every = max(1, every)
        self._enabled = True

    def disable(self) -> None:
        """Silence the bar (Lightning calls this on non-zero ranks)."""
        self._enabled = False

    def enable(self) -> None:
        """Re-enable the bar."""
        self._enabled = True

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Log epoch, losses and a text bar."""
        epoch = trainer.current_epoch + 1
        total = trainer.max_epochs or epoch
        if not self._enabled or (epoch % self.every and epoch != total):
            return
        m = trainer.callback_metrics
        done = int(20 * epoch / total)
        bar = "#" * done + "." * (20 - done)
        losses = " ".join(f"{k}={float(m[k]):.4f}" for k in ("train_loss", "val_loss") if k in m)
        log.info("%s [%s] epoch %d/%d %s", self.name, bar, epoch, total, losses)


# ---------------------------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------------------------
def _accelerator(device: str) -> str:
    """Lightning accelerator for the config's ``device`` (cpu | cuda | auto)."""
    return {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "auto": "auto"}[device]


class TorchModel(Estimator):
    """Common training and prediction of the torch models (subclasses build the network).

    Parameters (``params``): ``learning_rate``, ``weight_decay``, ``batch_size``,
    ``max_epochs``, ``patience`` (epochs without a better validation loss before stopping;
    None trains ``max_epochs`` on all rows and keeps the last weights),
    ``validation_fraction``, ``class_weight``, ``device`` and the architecture keys of the
    subclass.
    """

    standardize = True
    onehot = True

    def build_net(self, n_channels: int, patch_size: int | None = None) -> nn.Module:
        """Return the untrained network for ``n_channels`` input channels."""
        raise NotImplementedError

    def fit(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        threads: int = 1,
        log_dir: str | os.PathLike | None = None,
        name: str = "fit",
    ) -> TorchModel:
        """Train with Lightning (see :meth:`Estimator.fit` and the class doc)."""
        from pytorch_lightning.callbacks import EarlyStopping
        from pytorch_lightning.loggers import CSVLogger
        from pytorch_lightning.plugins.environments import LightningEnvironment

        p = self.params
        # These networks and batches are tiny: on the CPU one intra-op thread trains as fast
        # as several and does not suffer when other jobs share the cores.
        batch_size = int(p.get("batch_size", 128))
        torch.set_num_threads(1 if Z[0].size * batch_size < 250_000 else max(1, int(threads)))
        pl.seed_everything(seed, workers=True, verbose=False)
        self.n_channels = int(Z.shape[1])
        self.patch_size = int(Z.shape[-1]) if Z.ndim == 4 else None
        net = self.build_net(self.n_channels, self.patch_size)
        patience = p.get("patience", 15)
        y = np.asarray(y, dtype=np.float32)
        if patience is not None:
            fit_idx, val_idx = inner_split(y, float(p.get("validation_fraction", 0.2)), seed)
        else:
            fit_idx, val_idx = np.arange(y.size), np.array([], dtype=int)
        if val_idx.size == 0:
            patience = None
        dm = ArrayDataModule(
            Z[fit_idx],
            y[fit_idx],
            Z[val_idx] if val_idx.size else None,
            y[val_idx] if val_idx.size else None,
            batch_size=batch_size,
            seed=seed,
        )
        module = BinaryClassifier(
            net,
            learning_rate=float(p.get("learning_rate", 1e-3)),
            weight_decay=float(p.get("weight_decay", 1e-3)),
            pos_weight=positive_weight(y[fit_idx], p.get("class_weight")),
        )
        best = KeepBestWeights()
        callbacks: list[pl.Callback] = [LogProgress(name, every=int(p.get("log_every", 10)))]
        if patience is not None:
            callbacks += [EarlyStopping("val_loss", patience=int(patience), mode="min"), best]
        device = str(p.get("device", "auto"))
        accelerator = _accelerator(device)
        on_gpu = accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())
        logger = CSVLogger(os.fspath(log_dir), name=name, version="") if log_dir else False
        with warnings.catch_warnings():
            _quiet_lightning()
            trainer = pl.Trainer(
                max_epochs=int(p.get("max_epochs", 150)),
                accelerator=accelerator,
                devices=1,
                deterministic="warn" if on_gpu else True,
                logger=logger,
                callbacks=callbacks,
                enable_checkpointing=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                limit_val_batches=1.0 if patience is not None else 0,
                # one process, one device: never let Lightning reconfigure itself from SLURM_*
                plugins=[LightningEnvironment()],
            )
            trainer.fit(module, datamodule=dm)
        self.net = module.net.cpu().eval()
        torch.set_num_threads(max(1, int(threads)))  # prediction of whole blocks uses them
        self.info = {
            "epochs_run": int(trainer.current_epoch),
            "best_epoch": int(best.best_epoch) + 1 if best.state is not None else None,
            "best_val_loss": best.best if best.state is not None else None,
        }
        log.info(
            "%s: %d epochs, best epoch %s (val_loss %s)",
            name,
            self.info["epochs_run"],
            self.info["best_epoch"],
            None if self.info["best_val_loss"] is None else f"{self.info['best_val_loss']:.4f}",
        )
        return self

    @torch.inference_mode()
    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        """P(landslide) of each row or patch (CPU, batches of 8192)."""
        self.net.eval()
        out = []
        for i in range(0, Z.shape[0], 8192):
            x = torch.as_tensor(np.ascontiguousarray(Z[i : i + 8192]), dtype=torch.float32)
            out.append(torch.sigmoid(self.net(x)).double().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def set_threads(self, threads: int) -> None:
        """Set torch's intra-op threads (process-wide)."""
        torch.set_num_threads(max(1, int(threads)))

    # Pickle the weights as numpy arrays and rebuild the network on loading: pickled torch
    # tensors carry a random serialization id, so two identical trainings would give
    # different model files.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        net = state.pop("net", None)
        if net is not None:
            state["net_state"] = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights = state.pop("net_state", None)
        self.__dict__.update(state)
        if weights is not None:
            net = self.build_net(self.n_channels, self.patch_size)
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
            self.net = net.eval()


class CNN1DModel(TorchModel):
    """LeNet-style CNN-1D on the factor vector.

    Keys: ``channels``, ``kernel_size``, ``pool_size``, ``fc_units``, ``dropout``.
    """

    def build_net(self, n_channels: int, patch_size: int | None = None) -> nn.Module:
        """Build the :class:`CNN1D` of the configured size."""
        p = self.params
        return CNN1D(
            n_channels,
            channels=int(p.get("channels", 16)),
            kernel_size=int(p.get("kernel_size", 3)),
            pool_size=int(p.get("pool_size", 1)),
            fc_units=int(p.get("fc_units", 32)),
            dropout=float(p.get("dropout", 0.3)),
        )


class RNNModel(TorchModel):
    """LSTM/GRU/RNN over the factor sequence.

    Keys: ``embedding_dim``, ``cell``, ``hidden_size``, ``num_layers``, ``bidirectional``,
    ``dropout``.
    """

    def build_net(self, n_channels: int, patch_size: int | None = None) -> nn.Module:
        """Build the :class:`RNNNet` of the configured size."""
        p = self.params
        return RNNNet(
            n_channels,
            embedding_dim=int(p.get("embedding_dim", 4)),
            cell=str(p.get("cell", "lstm")),
            hidden_size=int(p.get("hidden_size", 32)),
            num_layers=int(p.get("num_layers", 1)),
            bidirectional=bool(p.get("bidirectional", True)),
            dropout=float(p.get("dropout", 0.2)),
        )


class CNN2DModel(TorchModel):
    """Seed-004 CNN-2D on k x k patches, with dense whole-block prediction.

    Keys: ``conv1_filters``, ``conv2_filters``, ``fc_units``, ``dropout_conv``, ``dropout_fc``.
    """

    input_kind = "patch"

    def build_net(self, n_channels: int, patch_size: int | None = None) -> nn.Module:
        """Build the :class:`CNN2D` for the patches' size."""
        p = self.params
        return CNN2D(
            n_channels,
            patch_size=int(patch_size),
            conv1_filters=int(p.get("conv1_filters", 32)),
            conv2_filters=int(p.get("conv2_filters", 64)),
            fc_units=int(p.get("fc_units", 128)),
            dropout_conv=float(p.get("dropout_conv", 0.2)),
            dropout_fc=float(p.get("dropout_fc", 0.3)),
        )

    def dense_proba(self, frame: np.ndarray, patch_size: int) -> np.ndarray:
        """P(landslide) of every window of ``frame`` (see :func:`cnn2d_dense_logits`)."""
        self.net.eval()
        logits = cnn2d_dense_logits(self.net, torch.as_tensor(frame, dtype=torch.float32))
        return torch.sigmoid(logits).double().numpy()
