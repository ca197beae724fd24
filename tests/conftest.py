import os, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent/'shared'/'data'

# Tests read the project's shared data unless JOBSIM_DATA already points elsewhere.
if 'JOBSIM_DATA' not in os.environ and SHARED_DATA.is_dir(): os.environ['JOBSIM_DATA'] = str(SHARED_DATA)


@pytest.fixture
def home(tmp_path, monkeypatch):
    "A fresh, empty artifacts folder for one test."
    monkeypatch.setenv('JOBSIM_HOME', str(tmp_path/'home'))
    return tmp_path/'home'


@pytest.fixture(scope='session')
def homes(tmp_path_factory):
    """Two artifacts folders holding the default model's postings index and coder (built once, here): one without a
    fine-tuned model, one whose `models/fine_tuned` is a copy of the default model's files."""
    from jobsim.models import resolve_model, DEFAULT_MODEL
    from jobsim.search import build_index
    from jobsim.coder import build_coder
    base = tmp_path_factory.mktemp('dashboard')
    alone, with_ft = base/'no_fine_tuned', base/'with_fine_tuned'
    old = os.environ.get('JOBSIM_HOME')
    os.environ['JOBSIM_HOME'] = str(alone)
    warm = ROOT/'artifacts'/'coders'/'all-MiniLM-L6-v2.npz' # the checkout's coder, when it has one: reused only if its fingerprints match
    if warm.exists(): (alone/'coders').mkdir(parents=True, exist_ok=True); shutil.copy(warm, alone/'coders'/warm.name)
    try: ix, coder = build_index(DEFAULT_MODEL), build_coder(DEFAULT_MODEL, progress=False)
    finally:
        if old is None: del os.environ['JOBSIM_HOME']
        else: os.environ['JOBSIM_HOME'] = old
    (with_ft/'embeddings').mkdir(parents=True)
    shutil.copytree(resolve_model(DEFAULT_MODEL)[0], with_ft/'models'/'fine_tuned')
    # the same files give the same model fingerprint, so the index is valid for the copy too
    for name in (ix.path.name, 'fine_tuned.npz'): shutil.copy(ix.path, with_ft/'embeddings'/name)
    (with_ft/'coders').mkdir()
    for name in (coder.path.name, 'fine_tuned.npz'): shutil.copy(coder.path, with_ft/'coders'/name)
    return {'no_fine_tuned': alone, 'with_fine_tuned': with_ft}
