"""gliner-beam: enrich large corpora with GLiNER multi-task models on Apache Beam.

Also the `--setup_file` for Dataflow workers, which install the job's
packages from it (common, model_handler, transforms, pipeline) and
selflearning, whose pseudo-labelling is a Beam job of its own; the other
tools (bench, scripts) stay out of worker images.
"""
from setuptools import find_packages, setup

setup(
    name='gliner-beam',
    version='0.1.0',
    description='Apache Beam job that runs GLiNER (zero-shot NER and more) '
    'over Parquet corpora and writes typed Parquet tables.',
    python_requires='>=3.10,<3.13',
    packages=find_packages(
        include=['common', 'common.*', 'model_handler', 'model_handler.*',
                 'transforms', 'transforms.*', 'pipeline', 'pipeline.*',
                 'selflearning', 'selflearning.*']),
    install_requires=[
        'apache-beam[gcp]>=2.77.0,<2.78',
        'gliner>=0.2.29,<0.3',
        'torch>=2.2',
        'transformers>=4.51,<5.17',
        'pyarrow>=15,<26',
        'fsspec>=2024.2',
        'gcsfs>=2024.2',
        'google-cloud-storage>=2.14',
        'pyyaml>=6',
        'tqdm>=4.60',
        # Beam's RunInference imports its ModelManager (and with it the memory
        # metrics) only when scipy is importable; without it, it logs a warning
        # for every batch.
        'scipy>=1.11',
    ],
    extras_require={
        'iceberg': ['pyiceberg[sql-sqlite]>=0.9'],
        # Run report pages and benchmark / quality charts: launcher-side only,
        # kept out of the worker image.
        'report': ['matplotlib>=3.8'],
        'test': ['pytest>=8', 'gcp-storage-emulator>=2024.8', 'ruff>=0.6',
                 'hypothesis>=6.100', 'pyiceberg[sql-sqlite]>=0.9',
                 'matplotlib>=3.8', 'duckdb>=1.0'],
    },
    entry_points={'console_scripts': ['gliner-beam=pipeline.run:main']},
)
