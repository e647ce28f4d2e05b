from setuptools import find_packages, setup

setup(
    name="spacy-globalpointer",
    version="0.1.0",
    description="GlobalPointer and Efficient GlobalPointer nested NER heads as a spaCy 3 component",
    long_description=open("README.md", encoding="utf8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["spacy_globalpointer", "spacy_globalpointer.*"]),
    python_requires=">=3.9",
    install_requires=[
        "spacy>=3.7,<4",
        "thinc>=8.2,<8.4",
        "torch>=2.6,<3",
        "srsly>=2.4",
        "numpy",
        "tqdm",
    ],
    extras_require={
        "transformers": ["spacy-transformers>=1.3,<2"],
        "project": ["build"],
        "test": ["pytest", "hypothesis", "build", "spacy-transformers>=1.3,<2"],
    },
    entry_points={
        "spacy_factories": ["globalpointer_ner = spacy_globalpointer.pipe:make_globalpointer_ner"],
        "spacy_architectures": ["spacy_globalpointer.GlobalPointer.v1 = spacy_globalpointer.model:build_globalpointer_model", "spacy_globalpointer.GlobalPointer.v2 = spacy_globalpointer.model:build_globalpointer_model_v2", "spacy_globalpointer.NgramHashEmbed.v1 = spacy_globalpointer.embed:NgramHashEmbed"],
        "spacy_scorers": ["spacy_globalpointer.scorer.v1 = spacy_globalpointer.scorer:make_globalpointer_scorer"],
        "spacy_readers": ["spacy_globalpointer.Corpus.v1 = spacy_globalpointer.util:create_corpus_reader"],
        "spacy_callbacks": ["spacy_globalpointer.torch_cpu_ops.v1 = spacy_globalpointer.speedups:make_torch_cpu_ops", "spacy_globalpointer.cached_msgpack_lookup.v1 = spacy_globalpointer.speedups:make_cached_msgpack_lookup"],
        "spacy_span_getters": ["spacy_globalpointer.checked_strided_spans.v1 = spacy_globalpointer.util:make_checked_strided_spans"],
        "spacy_cli": ["globalpointer = spacy_globalpointer.spacy_cli:app"],
        "console_scripts": ["spacy-globalpointer = spacy_globalpointer.cli:run"],
    },
)
