"""What each optimisation step sees: the whole batch of step ``s`` as a pure function of (seed, step).

Sample order comes from a per-epoch permutation and every sample's augmentation from its own
generator seeded with (seed, step, slot), so a resumed run continues with exactly the batches the
uninterrupted run would have seen, with any number of loader workers.
"""

from __future__ import annotations

import numpy as np
import torch

from engines.transforms import to_input
from training.config import TrainConfig
from training.data.augment import training_sample
from training.data.datasets import SegmentationDataset
from training.network_io import torch_input_spec


class StepBatches(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Item ``s`` is the whole batch of step ``s``: (B×3×h×w float32 input, B×h×w uint8 labels)."""

    def __init__(self, source: SegmentationDataset, cfg: TrainConfig) -> None:
        self.source = source
        self.height, self.width = cfg.data.input_size
        self.batch = cfg.train.batch_size
        self.seed = cfg.train.seed
        self.steps = cfg.schedule.steps
        self.augment = cfg.augment
        self.spec = torch_input_spec(self.height, self.width)
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.steps

    def indices(self, step: int) -> list[int]:
        n = len(self.source)
        out = []
        for position in range(step * self.batch, (step + 1) * self.batch):
            epoch, offset = divmod(position, n)
            if epoch not in self._perms:
                if len(self._perms) > 4:
                    self._perms.pop(min(self._perms))
                self._perms[epoch] = np.random.default_rng([self.seed, epoch, 0x5E6]).permutation(n)
            out.append(int(self._perms[epoch][offset]))
        return out

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for slot, index in enumerate(self.indices(step)):
            rng = np.random.default_rng([self.seed, step, slot])
            sample = self.source[index]
            image, label = training_sample(sample.image, sample.labels, self.height, self.width, self.augment, rng)
            images.append(image)
            labels.append(label)
        return torch.from_numpy(to_input(images, self.spec)), torch.from_numpy(np.stack(labels))
