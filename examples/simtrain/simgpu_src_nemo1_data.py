"""The datasets and dataloaders of the simulated NeMo 1 MegatronGPTModel (see simgpu_src_nemo1_gpt): source text of
Megatron-Core's BlendedMegatronDatasetBuilder and BlendedDataset (megatron/core/datasets/, shaped after
NVIDIA/Megatron-LM's releases that NeMo 2.0 runs on: a weighted blend's split holds exactly the samples asked
for, an empty one is built and is empty, a split asked for None samples is one epoch and refused for a weighted
blend) and of NeMo's samplers (nemo/collections/nlp/data/language_modeling/megatron/data_samplers.py), and what
the sim supplies in their place: the dataset config's split matrix and blend parsing (megatron/core/datasets/
utils.py, blended_megatron_dataset_config.py), and GPTDataset over the sim's corpus.

The sim's corpus: any data prefix is an indexed dataset of CORPUS_SEQUENCES sequences of seq_length tokens (no
file is read). A GPTDataset holds whole epochs of its split, at least the samples asked for (one epoch for None or
0), so a prefix named without a weight (model.data.data_prefix=[path]) trains on data much longer than the run,
while a weighted blend ([1.0,path]) holds max_steps global batches: Lightning's fit loop then sees the data end
with the last step, and NeMo's steps drawing their own micro-batches make that a validation point.
"""

import math
import re
from types import SimpleNamespace as NS

CORPUS_SEQUENCES = 1000000

SOURCES = {}

SOURCES["megatron/core/datasets/blended_megatron_dataset_builder.py"] = '''
class BlendedMegatronDatasetBuilder(object):
    """Builder class for the BlendedDataset and MegatronDataset classes

    Args:
        cls (Type[MegatronDataset]): The class to instantiate, must inherit from MegatronDataset

        sizes (List[Optional[int]]): The minimum total number of samples to draw, or None, per split

        is_built_on_rank (Callable): A callable which returns True if the dataset should be built on
            the current rank and False otherwise. It should be Megatron Core parallelism aware i.e.
            global rank, local group rank, and virtual rank may inform its return value. Should
            return true for exactly one process on global rank 0.

        config (BlendedMegatronDatasetConfig): The config object which informs dataset creation
    """

    def __init__(self, cls, sizes, is_built_on_rank, config):
        self.cls = cls
        self.sizes = sizes
        self.is_built_on_rank = is_built_on_rank
        self.config = config

        log_single_rank(
            logger,
            logging.INFO,
            f"Building {cls.__name__} splits with sizes={self.sizes} and config={self.config}",
        )

        if not self.config.mock:
            for split in Split:
                size_is_none = self.sizes[split.value] is None
                if self.config.blend_per_split is None:
                    weights_are_none = self.config.blend[1] is None
                else:
                    if self.config.blend_per_split[split.value] is None:
                        continue
                    weights_are_none = self.config.blend_per_split[split.value][1] is None
                if size_is_none:
                    assert (
                        weights_are_none
                    ), f"size_is_none => weights_are_none fails for {split.name} split"

    def build(self):
        """Build all dataset splits according to the provided blend(s)"""
        datasets = self._build_blended_dataset_splits()

        for dataset in datasets:
            if dataset is not None and len(dataset) > 0:
                if isinstance(dataset, BlendedDataset):
                    assert dataset.size is None or dataset.size == len(dataset)
                elif isinstance(dataset, MegatronDataset):
                    assert dataset.num_samples is None or dataset.num_samples <= len(dataset)

        return datasets

    def _build_blended_dataset_splits(self):
        ##
        # Return fake "mock" datasets
        ##
        if self.config.mock:
            split = self.config.split_matrix
            try:
                return self._build_megatron_dataset_splits(None, split, self.sizes)
            except Exception as error:
                raise Exception(
                    f"{self.cls.__name__} failed to build as a mock data generator"
                ) from error

        ##
        # All splits come from the same distribution
        ##
        elif self.config.blend:
            prefixes, weights = self.config.blend
            if weights is not None:
                weights = normalize(weights)

            split = self.config.split_matrix

            # Blend consists of a single prefix
            if len(prefixes) == 1 and weights is None:
                return self._build_megatron_dataset_splits(prefixes[0], split, self.sizes)

            # Build the mid-level datasets
            if weights is None:
                # Build only one "epoch"
                sizes_per_dataset_buffer = [[None for split in Split] for prefix in prefixes]
            else:
                # The number of samples we plan to use per dataset
                sizes_per_dataset_target = _get_size_per_split_per_dataset(weights, self.sizes)
                # The number of samples we plan to build per dataset
                sizes_per_dataset_buffer = _get_size_per_split_per_dataset(
                    weights, self.sizes, surplus=self.config.mid_level_dataset_surplus
                )

            # Build each dataset in parallel
            megatron_datasets = self._build_megatron_datasets_parallel(
                prefixes, split, sizes_per_dataset_buffer
            )

            # Build the top-level datasets
            blended_datasets = [None] * len(Split)
            for i in range(len(Split)):
                if split[i] is not None:
                    weights_i = weights
                    if weights_i is not None and self.sizes[i] is not None:
                        # Blend according to client-specified weights and client-specified size
                        size_per_dataset = list(zip(*sizes_per_dataset_target))[i]
                        size_i = sum(size_per_dataset)
                    elif weights_i is None:
                        # Blend according to dataset sizes as-is and (maybe) client-specified size
                        try:
                            weights_i = [
                                len(megatron_dataset) for megatron_dataset in megatron_datasets[i]
                            ]
                        except TypeError:
                            weights_i = [0 for _ in prefixes]
                        if self.sizes[i] is not None:
                            size_i = min(self.sizes[i], sum(weights_i))
                        else:
                            # Build exhaustive indices
                            size_i = None
                    else:
                        raise ValueError(
                            "Using client-specified weights requires client-specified size"
                        )
                    blended_datasets[i] = self.build_generic_dataset(
                        BlendedDataset,
                        self.is_built_on_rank,
                        True,  # synchronize_ranks, default behavior to build on rank-0 first
                        megatron_datasets[i],
                        weights_i,
                        size_i,
                        self.config,
                    )

            return blended_datasets

        ##
        # Each split comes from a separate distribution
        ##
        else:
            raise NotImplementedError("a data_prefix per split (train, validation, test) is not simulated")

    def _build_megatron_datasets_parallel(self, prefixes, split, sizes_per_dataset):
        megatron_datasets = [[] for _ in range(len(Split))]
        for i in range(len(prefixes)):
            megatron_datasets_split = self._build_megatron_dataset_splits(
                prefixes[i], split, sizes_per_dataset[i], False
            )
            for j in range(len(megatron_datasets_split)):
                megatron_datasets[j].append(megatron_datasets_split[j])
        return megatron_datasets

    def _build_megatron_dataset_splits(self, dataset_path, split, sizes, synchronize_ranks=True):
        # Build the low level dataset
        low_level_dataset = self.cls.build_low_level_dataset(dataset_path, self.config)

        # Build the split indices for the low level dataset
        num_elements = self.cls.numel_low_level_dataset(low_level_dataset)

        # Build the mid level dataset
        mid_level_datasets = []
        for i, _split in enumerate(Split):
            if split[i] is None:
                mid_level_datasets.append(None)
            else:
                beg = int(round(split[i][0] * float(num_elements)))
                end = int(round(split[i][1] * float(num_elements)))
                indexed_indices = range(beg, end)

                mid_level_datasets.append(
                    self.build_generic_dataset(
                        self.cls,
                        self.is_built_on_rank,
                        synchronize_ranks,
                        low_level_dataset,
                        dataset_path,
                        indexed_indices,
                        sizes[i],
                        _split,
                        self.config,
                    )
                )

        return mid_level_datasets

    @staticmethod
    def build_generic_dataset(cls, is_built_on_rank, synchronize_ranks, *args):
        return cls(*args)


def _get_size_per_split_per_dataset(normalized_weights, target_size_per_split, surplus=0.0):
    """Determine the contribution of the MegatronDataset splits to the BlendedDataset splits"""

    assert numpy.isclose(sum(normalized_weights), 1.0)

    # Use margin as buffer to ensure we satiate the request
    sizes_per_dataset = [
        [
            int(math.ceil(math.ceil(target_size * weight) * (1 + surplus)))
            for target_size in target_size_per_split
        ]
        for weight in normalized_weights
    ]

    return sizes_per_dataset
'''

SOURCES["megatron/core/datasets/blended_dataset.py"] = '''
class BlendedDataset(torch.utils.data.Dataset):
    """Conjugating class for a set of MegatronDataset instances

    Args:
        datasets (List[MegatronDataset]): The MegatronDataset instances to blend

        weights (List[Union[int, float]]): The weights that determine the dataset blend ratios

        size (Optional[int]): The number of samples to draw from the blend. If None, for each dataset index idx draw exactly weights[idx] samples from datasets[idx].

        config (BlendedMegatronDatasetConfig): The config
    """

    def __init__(self, datasets, weights, size, config):
        assert len(datasets) == len(weights)
        assert len(datasets) < 32767
        assert all(map(lambda _: type(_) == type(datasets[0]), datasets))
        assert all(map(lambda _: _.index_split == datasets[0].index_split, datasets))
        assert all(map(lambda _: _ > 0, weights))
        assert all(map(lambda _: type(_) == type(weights[0]), weights))
        if size is None and isinstance(weights[0], float):
            assert all(map(lambda _: _ == int(_), weights))

        # Alert user to unnecessary blending
        if len(datasets) == 1:
            log_single_rank(
                logger, logging.WARNING, f"Building a BlendedDataset for a single MegatronDataset"
            )

        if size is not None:
            weights = normalize(weights)

        self.datasets = datasets
        self.split = self.datasets[0].index_split
        self.weights = weights
        self.size = size
        self.config = config

        # the sim keeps the number of samples the indices would hold
        self.dataset_index = range(self.size if self.size is not None else int(sum(self.weights)))

    def __len__(self):
        return len(self.dataset_index)
'''

SOURCES["nemo/collections/nlp/data/language_modeling/megatron/data_samplers.py"] = '''
class BaseMegatronSampler:
    def __init__(
        self,
        total_samples,
        consumed_samples,
        micro_batch_size,
        data_parallel_rank,
        data_parallel_size,
        drop_last=True,
        global_batch_size=None,
        rampup_batch_size=None,
        pad_samples_to_global_batch_size=False,
    ):
        # Sanity checks.
        if total_samples <= 0:
            raise RuntimeError("no sample to consume: {}".format(total_samples))
        if micro_batch_size <= 0:
            raise RuntimeError(f"micro_batch_size size must be greater than 0, but {micro_batch_size}")
        if data_parallel_size <= 0:
            raise RuntimeError(f"data parallel size must be greater than 0, but {data_parallel_size}")
        if data_parallel_rank >= data_parallel_size:
            raise RuntimeError(
                "data_parallel_rank should be smaller than data size, but {} >= {}".format(
                    data_parallel_rank, data_parallel_size
                )
            )
        if global_batch_size is not None and rampup_batch_size is None:
            if global_batch_size % (micro_batch_size * data_parallel_size) != 0:
                raise RuntimeError(
                    f"`global_batch_size` ({global_batch_size}) is not divisible by "
                    f"`micro_batch_size ({micro_batch_size}) x data_parallel_size "
                    f"({data_parallel_size})`"
                )
        if pad_samples_to_global_batch_size and global_batch_size is None:
            raise RuntimeError(
                f"`pad_samples_to_global_batch_size` can be `True` only when "
                f"`global_batch_size` is set to an integer value"
            )

        # Keep a copy of input params for later use.
        self.total_samples = total_samples
        self.consumed_samples = consumed_samples
        self.micro_batch_size = micro_batch_size
        self.data_parallel_rank = data_parallel_rank
        self.data_parallel_size = data_parallel_size
        self.micro_batch_times_data_parallel_size = self.micro_batch_size * data_parallel_size
        self.drop_last = drop_last
        self.global_batch_size = global_batch_size
        self.pad_samples_to_global_batch_size = pad_samples_to_global_batch_size

        logging.info(
            f'Instantiating MegatronPretrainingSampler with total_samples: {total_samples} and consumed_samples: {consumed_samples}'
        )

    def __len__(self):
        num_available_samples = self.total_samples - self.consumed_samples
        if self.global_batch_size is not None:
            if self.drop_last:
                num_global_batches = num_available_samples // self.global_batch_size
            else:
                num_global_batches = (num_available_samples + self.global_batch_size - 1) // self.global_batch_size
            # return len of dataloader in terms of micro batches to avoid discrepancy between len of dataloader and
            # num of batches fetched (as training step fetches in terms of micro batches)
            return num_global_batches * (self.global_batch_size // self.micro_batch_times_data_parallel_size)
        else:
            return (num_available_samples - 1) // self.micro_batch_times_data_parallel_size + 1


class MegatronPretrainingSampler(BaseMegatronSampler):
    pass


class MegatronCorePretrainingSampler(MegatronPretrainingSampler):
    pass
'''


class Split:
    """megatron/core/datasets/utils.py's Split enum (train, valid, test)."""

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __repr__(self):
        return "Split.%s" % self.name


SPLITS = [Split("train", 0), Split("valid", 1), Split("test", 2)]


class _SplitEnum(type):
    def __iter__(cls):
        return iter(SPLITS)

    def __len__(cls):
        return len(SPLITS)


class SplitEnum(metaclass=_SplitEnum):
    pass


def normalize(weights):
    """megatron/core/datasets/utils.py: the weights over their sum."""
    total = sum(weights)
    return [w / total for w in weights]


def get_blend_from_list(blend):
    """megatron/core/datasets/utils.py: [w1, path1, w2, path2, ...] -> (paths, weights); [path, ...] (odd, or
    entries that are not numbers) -> (paths, None)."""
    if blend is None:
        return None
    blend = [str(entry) if not isinstance(entry, (int, float)) else entry for entry in blend]
    if len(blend) % 2 == 1:
        return [str(p).strip() for p in blend], None
    raw_weights, raw_prefixes = blend[0::2], blend[1::2]
    weights = []
    for raw in raw_weights:
        try:
            weights.append(float(raw))
        except ValueError:
            weights.append(None)
    if any(w is None for w in weights):
        return [str(p).strip() for p in blend], None
    return [str(p).strip() for p in raw_prefixes], weights


def _split_matrix(split):
    """blended_megatron_dataset_config.py's parse_and_normalize_split and convert_split_vector_to_split_matrix:
    "900,50,50" -> [(0, .9), (.9, .95), (.95, 1)], a split of 0 -> None."""
    vector = [float(part) for part in re.findall(r"[.0-9]+", split)]
    vector += [0.0] * (len(SPLITS) - len(vector))
    assert len(vector) == len(SPLITS)
    assert all(v >= 0.0 for v in vector)
    vector = normalize(vector)
    bounds = [0.0]
    for v in vector:
        bounds.append(bounds[-1] + v)
    return [None if end <= beg else (beg, end) for beg, end in zip(bounds[:-1], bounds[1:])]


class GPTDatasetConfig:
    """megatron/core/datasets/gpt_dataset.py's GPTDatasetConfig (a BlendedMegatronDatasetConfig): the blend, the
    split and its matrix, mock, and the mid-level surplus (0.5 %)."""

    def __init__(self, blend=None, blend_per_split=None, split=None, **kwargs):
        self.blend, self.blend_per_split, self.split = blend, blend_per_split, split
        self.mock = False
        self.mid_level_dataset_surplus = 0.005
        self.sequence_length = kwargs.get("sequence_length")
        if blend_per_split is not None and any(blend_per_split):
            assert blend is None, "blend and blend_per_split are incompatible"
            assert split is None, "split and blend_per_split are incompatible"
            self.split_matrix = None
        else:
            if blend is not None:
                assert blend[1] is None or len(blend[0]) == len(blend[1]), \
                    "blend[0] and blend[1] must have the same length"
            assert split is not None, "split must be provided when blend_per_split is None"
            self.split_matrix = _split_matrix(str(split))

    def __repr__(self):
        return "GPTDatasetConfig(blend=%r, split=%r)" % (self.blend, self.split)


class MegatronDataset:
    pass


class GPTDataset(MegatronDataset):
    """megatron/core/datasets/gpt_dataset.py's GPTDataset over the sim's corpus: whole epochs of its split, as
    many as hold num_samples (one for None or 0)."""

    def __init__(self, indexed_dataset, dataset_path, indexed_indices, num_samples, index_split, config):
        self.dataset_path, self.index_split, self.config = dataset_path, index_split, config
        self.num_samples = num_samples
        per_epoch = len(indexed_indices)
        epochs = max(1, math.ceil(num_samples / per_epoch)) if num_samples and per_epoch else 1
        self.length = epochs * per_epoch

    def __len__(self):
        return self.length

    @staticmethod
    def build_low_level_dataset(dataset_path, config):
        return NS(path_prefix=dataset_path)

    @staticmethod
    def numel_low_level_dataset(low_level_dataset):
        return CORPUS_SEQUENCES


class MockGPTDataset(GPTDataset):
    @staticmethod
    def build_low_level_dataset(dataset_path, config):
        raise NotImplementedError("model.data.data_impl=mock is not simulated")


class DataLoader:
    """torch.utils.data.DataLoader with a batch sampler: its length is the sampler's (NeMo's: micro-batches)."""

    def __init__(self, dataset, batch_sampler=None, **kwargs):
        self.dataset, self.batch_sampler = dataset, batch_sampler

    def __len__(self):
        return len(self.batch_sampler)
