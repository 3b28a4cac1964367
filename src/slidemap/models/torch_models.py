"""CNN-1D, CNN-2D and RNN classifiers trained as PyTorch Lightning modules.

The networks (:class:`~slidemap.models.torch_nets.CNN1D`,
:class:`~slidemap.models.torch_nets.CNN2D`, :class:`~slidemap.models.torch_nets.RNNNet`) and
the CNN-2D's dense whole-block pass (:func:`~slidemap.models.torch_nets.cnn2d_dense_logits`)
are in :mod:`slidemap.models.torch_nets` (re-exported here); this module holds the
estimators that build, train, pickle and apply them (:class:`CNN1DModel`,
:class:`CNN2DModel`, :class:`RNNModel`; pickled model bundles refer to these classes here).

Training (:class:`TorchModel`) uses a :class:`ArrayDataModule`, binary cross-entropy on the
logit with ``pos_weight`` for class weighting, Adam, early stopping on the validation loss of
a stratified inner split (the best epoch's weights are kept), ``seed_everything`` and
deterministic algorithms, ``num_workers=0``, per-epoch CSV logs and a progress bar written
to the job's log.
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

from slidemap.models.base import Estimator
from slidemap.models.sklearn_models import inner_split, positive_weight
from slidemap.models.torch_nets import CNN1D, CNN2D, RNNNet, cnn2d_dense_logits

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
        """Train with Lightning (see :meth:`Estimator.fit` and the class doc).

        ``threads`` is accepted for the common interface and not used: training on the CPU
        runs on one intra-op thread (bitwise-identical models whatever ``--cores``).
        """
        from pytorch_lightning.callbacks import EarlyStopping
        from pytorch_lightning.loggers import CSVLogger
        from pytorch_lightning.plugins.environments import LightningEnvironment

        p = self.params
        # One intra-op thread on the CPU, whatever ``threads`` says. With two, the demo's
        # CNN-2D gave, about once in 40 clean runs (on CI and here), CV probabilities a few
        # ulps apart from the usual ones (spatial pooled AUC 0.778125 instead of 0.778177),
        # and the files of two clean runs must be identical. The cause inside the
        # multi-threaded kernels was not isolated; one thread leaves no work split between
        # threads to vary. Cost: ~1.4x on the demo's 27 x 9 x 9 patches (1.3 -> 1.8 s for 20
        # epochs of 850 patches), none on smaller inputs. The CV and test predictions that
        # follow run on one thread too; map prediction sets its own (:meth:`set_threads`).
        batch_size = int(p.get("batch_size", 128))
        torch.set_num_threads(1)
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
