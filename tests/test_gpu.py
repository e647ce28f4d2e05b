"""Half precision on a GPU: skipped where there is none (CI); run on a GPU machine with
`python -m pytest tests/test_gpu.py`."""

import math

import numpy
import pytest
import torch

from helpers.toy import make_examples, train_small
from spacy_globalpointer.ml.pytorch.heads import HEADS, build_head
from spacy_globalpointer.ml.pytorch.loss import loss_and_gradient
from spacy_globalpointer.pipeline.decode import decode_spans

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("head_name", HEADS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_forward_backward_finite(head_name, dtype):
    torch.manual_seed(0)
    head = build_head(head_name, 64, 10, 64, True).cuda()
    X = (torch.randn(8, 300, 64, device="cuda") * 20).requires_grad_(True)
    lengths = torch.tensor([300, 5, 0, 299, 1, 64, 65, 128], device="cuda")
    with torch.autocast("cuda", dtype=dtype):
        scores = head(X, lengths, 64)
    assert scores.dtype == dtype and torch.isfinite(scores).all()
    gold = torch.zeros(scores.shape, dtype=torch.bool, device="cuda")
    gold[0, 3, 10, 4] = gold[3, 0, 200, 0] = True
    valid = scores > torch.finfo(dtype).min
    loss, d_scores = loss_and_gradient(scores.detach(), gold, valid)
    scores.backward(d_scores)
    assert math.isfinite(loss) and torch.isfinite(X.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


def test_decode_on_device_matches_host():
    cupy = pytest.importorskip("cupy")
    rng = numpy.random.default_rng(0)
    scores = rng.normal(size=(4, 3, 20, 8)).astype("float32")
    lengths = [20, 7, 0, 13]
    for per_token in (0.5, 100.0):
        host = decode_spans(scores, lengths, 0.5, per_token)
        dev = decode_spans(cupy.asarray(scores), lengths, 0.5, per_token)
        for a, b in zip(host, dev):
            assert a.starts.tolist() == b.starts.tolist() and a.labels.tolist() == b.labels.tolist()
            numpy.testing.assert_allclose(a.scores, b.scores)


def test_mixed_precision_pipeline_trains_on_gpu(tmp_path):
    pytest.importorskip("cupy")
    import spacy

    spacy.require_gpu(0)
    try:
        nlp = train_small(
            60, model={"mixed_precision": True, "head": "EfficientGlobalPointer"}
        )  # checks every loss is finite
        examples = make_examples(nlp)
        head = nlp.get_pipe("globalpointer_ner").model.get_ref("scorer").shims[0].module
        assert next(head.parameters()).is_cuda
        assert all(torch.isfinite(p).all() for p in head.parameters())
        scores = nlp.evaluate(examples)
        assert scores["spans_sc_f"] > 0.5
        nlp.to_disk(tmp_path)
        doc = spacy.load(tmp_path)("张三在北京大学读书")
        assert len(doc.spans["sc"]) == len(doc.spans["sc"].attrs["scores"])
    finally:
        spacy.require_cpu()
