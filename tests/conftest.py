import os
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
