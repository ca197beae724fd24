"Model names resolve offline: local folder, then offline package, then hub, with clear errors."
import numpy as np, pytest
from jobsim.models import load_model, resolve_model, hub_reachable, ModelUnavailableError


def test_minilm_loads_from_its_package_and_ranks_sensibly():
    m = load_model('sentence-transformers/all-MiniLM-L6-v2', device='cpu')
    e = m.encode(['Software Engineer', 'Code Developer', 'Registered Nurse'], normalize_embeddings=True)
    assert e.shape == (3, 384)
    assert e[0] @ e[1] > e[0] @ e[2]


def test_mpnet_is_joined_unzipped_and_encodes_768_floats():
    m = load_model('sentence-transformers/all-mpnet-base-v2', device='cpu')
    v = m.encode('Data Scientist')
    assert v.shape == (768,) and np.isfinite(v).all()


def test_half_written_mpnet_cache_is_not_reused(home):
    from jobsim.models import unpack_mpnet
    dest = home/'models'/'all-mpnet-base-v2'
    dest.mkdir(parents=True); (dest/'modules.json').write_text('{}')   # an interrupted unpack
    assert unpack_mpnet(dest) == dest
    assert (dest/'.jobsim-complete').exists() and (dest/'model.safetensors').stat().st_size > 400e6


def test_local_folder_is_used_as_is(tmp_path):
    m = load_model('sentence-transformers/all-MiniLM-L6-v2', device='cpu')
    m.save(str(tmp_path/'copy'))
    assert resolve_model(str(tmp_path/'copy'))[1] == 'local'
    assert load_model(str(tmp_path/'copy'), device='cpu').encode('Nurse').shape == (384,)


def test_unknown_name_and_broken_folder_name_the_model(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'nonsense-model'"): load_model('nonsense-model')
    (tmp_path/'broken').mkdir(); (tmp_path/'broken'/'config.json').write_text('{}')
    with pytest.raises(FileNotFoundError, match='broken is not a saved sentence-transformers model'): load_model(str(tmp_path/'broken'))


@pytest.mark.skipif(hub_reachable(), reason='the hub is reachable here, so L12 may really load')
def test_l12_without_hub_says_it_is_unavailable():
    with pytest.raises(ModelUnavailableError, match="'sentence-transformers/all-MiniLM-L12-v2' is not available"):
        load_model('sentence-transformers/all-MiniLM-L12-v2')
