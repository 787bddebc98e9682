"""Scale-out on Dask: features and predictions of archives bigger than one machine.

``serkit features ... --dask ADDRESS`` and ``serkit predict ... --dask ADDRESS``
cut a streamed file listing into partitions, run one task per partition on a
Dask cluster, and write a partitioned Parquet dataset with a manifest, so a
job that is killed resumes where it stopped and no clip appears twice.

Importing this package does not import Dask; :func:`run_features` and
:func:`run_predictions` do (``pip install 'serkit[dist]'``).

.. autosummary::

    run_features
    run_predictions
    read_dataset
    read_feature_dataset
    is_feature_dataset
    iter_audio_files
    iter_files_from
"""

from ._client import DEFAULT_PARTITION_SIZE, JobSummary, run_features, run_predictions
from ._dataset import is_feature_dataset, iter_parts, read_dataset, read_feature_dataset
from ._listing import iter_audio_files, iter_files_from, partitions

__all__ = [
    "DEFAULT_PARTITION_SIZE",
    "JobSummary",
    "is_feature_dataset",
    "iter_audio_files",
    "iter_files_from",
    "iter_parts",
    "partitions",
    "read_dataset",
    "read_feature_dataset",
    "run_features",
    "run_predictions",
]
