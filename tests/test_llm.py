"""LLM benchmark: failure handling against a real misbehaving HTTP server on 127.0.0.1, driven through the real SDKs."""
import json, time, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
import pandas as pd, pytest, openai, anthropic
from jobsim.llm import (OpenAIChat, AnthropicChat, Recorder, call_with_retries, get_providers, make_provider, ProviderUnavailable,
                        LocalSmolLM, load_smollm)
from jobsim.llmbench import run_benchmark, build_benchmark, PROMPTS
from jobsim.data import load_jittered, stratified_split

MESSY = {'ok': '{"score": 0.7}', 'prose': 'Sure! Here is my answer:\n```json\n{"score": 0.8}\n```\nLet me know {if} you need more.',
         'bare': "{score: 0.4}", 'outofrange': '{"score": 7}', 'refusal': "I'm sorry, but I can't help with comparing these.",
         'empty': '', 'rank': 'The best one is {"best": 2}.'}


class Misbehaving(BaseHTTPRequestHandler):
    "Speaks the OpenAI chat and Anthropic messages formats; how it misbehaves is chosen by the request's model name."
    def log_message(self, *a): pass

    def _send(self, code, body, headers=()):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(raw)))
        for k, v in headers: self.send_header(k, v)
        self.end_headers(); self.wfile.write(raw)

    def do_POST(self):
        st = self.server.state
        req = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        model = req['model']
        with st['lock']:
            st['calls'][model] = n = st['calls'].get(model, 0) + 1
            st['inflight'] += 1; st['max_inflight'] = max(st['max_inflight'], st['inflight'])
        try: self._answer(model, n, anthropic_api=self.path.endswith('/messages'))
        finally:
            with st['lock']: st['inflight'] -= 1

    def _answer(self, model, n, anthropic_api):
        if model == 'ratelimit2' and n <= 2: return self._send(429, {'error': {'message': 'slow down', 'type': 'rate_limit_error'}}, [('Retry-After', '0')])
        if model == 'error500': return self._send(500, {'error': {'message': 'boom', 'type': 'api_error'}})
        if model == 'error503once' and n == 1: return self._send(503, {'error': {'message': 'busy', 'type': 'overloaded_error'}})
        if model == 'malformed': return self._send(200, b'{"id": "x", "choices": [{"message": {"content": "{\\"score\\": 0.')
        if model == 'slow': self.server.state['release'].wait(60)  # answers only once the test lets it (hang guard 60 s)
        if model == 'concurrent': time.sleep(0.3)
        text = MESSY.get(model, MESSY['ok'])
        if anthropic_api:
            return self._send(200, {'id': 'msg_1', 'type': 'message', 'role': 'assistant', 'model': model, 'stop_reason': 'end_turn',
                                    'content': [{'type': 'text', 'text': text}], 'usage': {'input_tokens': 11, 'output_tokens': 3}})
        self._send(200, {'id': 'c1', 'object': 'chat.completion', 'created': 0, 'model': model,
                         'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'stop'}],
                         'usage': {'prompt_tokens': 11, 'completion_tokens': 3, 'total_tokens': 14}})


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Misbehaving)
    srv.state = {'lock': threading.Lock(), 'calls': {}, 'inflight': 0, 'max_inflight': 0, 'release': threading.Event()}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.state['release'].set(); srv.shutdown(); srv.server_close()


def chat(server, model, max_concurrency=4):
    "An OpenAIChat on the real openai SDK, pointed at the local server, SDK retries off."
    client = openai.OpenAI(base_url=f'http://127.0.0.1:{server.server_address[1]}/v1', api_key='test', max_retries=0)
    return OpenAIChat(client, model, name=f'test-{model}', max_concurrency=max_concurrency)


@pytest.fixture(scope='module')
def items():
    jt = load_jittered()
    return build_benchmark(stratified_split(jt).test, n=12, pool=jt)


def pairs(items, n=1): return items[items.kind == 'pair'].head(n).reset_index(drop=True)


def test_messy_but_valid_replies_are_parsed(server, items):
    for model, want in [('prose', 0.8), ('bare', 0.4), ('ok', 0.7)]:
        r = run_benchmark(chat(server, model), pairs(items), ['direct'], progress=False)
        assert (r.value.iloc[0], r.failure.iloc[0], r.tokens_in.iloc[0]) == (want, None, 11)
    r = run_benchmark(chat(server, 'rank'), items[items.kind == 'rank'].head(1), ['direct'], progress=False)
    assert (r.value.iloc[0], r.failure.iloc[0]) == (2, None)


def test_429s_are_retried_until_an_answer(server):
    r = call_with_retries(chat(server, 'ratelimit2'), [{'role': 'user', 'content': 'hi'}], retries=3, backoff=0.05)
    assert (r['reply'], r['attempts'], r['error']) == (MESSY['ok'], 3, None)
    assert server.state['calls']['ratelimit2'] == 3


def test_one_503_is_retried(server):
    r = call_with_retries(chat(server, 'error503once'), [{'role': 'user', 'content': 'hi'}], backoff=0.05)
    assert (r['attempts'], r['error']) == (2, None)


def test_persistent_500_becomes_a_no_reply_row_not_an_exception(server, items):
    r = run_benchmark(chat(server, 'error500'), pairs(items, 2), ['direct'], retries=2, backoff=0.01, progress=False)
    assert r.failure.tolist() == ['no_reply']*2 and r.error.tolist() == ['server_error']*2
    assert r.attempts.tolist() == [3, 3] and server.state['calls']['error500'] == 6


def test_slow_server_hits_the_per_call_timeout(server, items):
    # the server holds every 'slow' call until the test releases it: only the client's own timeout can end an attempt
    r = run_benchmark(chat(server, 'slow'), pairs(items), ['direct'], timeout=0.3, retries=1, backoff=0.01, progress=False)
    assert (r.failure.iloc[0], r.error.iloc[0], r.attempts.iloc[0]) == ('timeout', 'timeout', 2)
    assert server.state['calls']['slow'] == 2, 'each attempt reached the server once and was cut by the timeout'


def test_malformed_json_body_is_recorded_as_a_bad_response(server, items):
    r = run_benchmark(chat(server, 'malformed'), pairs(items), ['direct'], backoff=0.01, progress=False)
    assert (r.failure.iloc[0], r.error.iloc[0], r.attempts.iloc[0]) == ('no_reply', 'bad_response', 1)


def test_schema_failures_are_classified(server, items):
    got = {m: run_benchmark(chat(server, m), pairs(items), ['direct'], progress=False).failure.iloc[0] for m in ('outofrange', 'refusal', 'empty')}
    assert got == {'outofrange': 'out_of_range', 'refusal': 'refusal', 'empty': 'no_reply'}
    r = run_benchmark(chat(server, 'ok'), items[items.kind == 'rank'].head(1), ['direct'], progress=False)  # a score where a pick is due
    assert r.failure.iloc[0] == 'unparseable'


def test_concurrency_limit_holds(server, items):
    r = run_benchmark(chat(server, 'concurrent'), pairs(items, 8), ['direct'], concurrency=2, progress=False)
    assert r.failure.isna().all() and server.state['max_inflight'] == 2
    server.state['max_inflight'] = 0
    run_benchmark(chat(server, 'concurrent', max_concurrency=3), pairs(items, 8), ['rubric'], concurrency=16, progress=False)
    assert server.state['max_inflight'] <= 3


def test_replies_are_recorded_then_replayed_without_calls(server, items, tmp_path):
    path = tmp_path/'rec.jsonl'
    live = run_benchmark(chat(server, 'prose'), items, PROMPTS, recorder=Recorder(path, mode='auto'), progress=False)
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    assert len(lines) == len(items)*2 == server.state['calls']['prose']
    assert {'provider', 'model', 'prompt_hash', 'reply', 'latency_s', 'tokens_in', 'tokens_out', 'error'} <= set(lines[0])
    again = run_benchmark(chat(server, 'prose'), items, PROMPTS, recorder=Recorder(path, mode='replay'), progress=False)
    assert server.state['calls']['prose'] == len(items)*2, 'replay called the server'
    assert again.replayed.all() and again.value.equals(live.value) and again.latency_s.equals(live.latency_s)
    other = run_benchmark(chat(server, 'ok'), pairs(items), ['direct'], recorder=Recorder(path, mode='replay'), progress=False)
    assert (other.error.iloc[0], other.failure.iloc[0]) == ('not_recorded', 'no_reply') and 'ok' not in server.state['calls']


def test_anthropic_sdk_gets_the_same_retries_and_parsing(server, items):
    client = anthropic.Anthropic(base_url=f'http://127.0.0.1:{server.server_address[1]}', api_key='test', max_retries=0)
    r = run_benchmark(AnthropicChat(client, 'ratelimit2'), pairs(items), ['rubric'], backoff=0.01, progress=False)
    assert (r.value.iloc[0], r.attempts.iloc[0], r.tokens_out.iloc[0]) == (0.7, 3, 3)
    r = run_benchmark(AnthropicChat(client, 'error500'), pairs(items), ['direct'], retries=1, backoff=0.01, progress=False)
    assert (r.failure.iloc[0], r.error.iloc[0]) == ('no_reply', 'server_error')


def test_provider_without_key_is_skipped_with_a_clear_line(monkeypatch, capsys):
    for v in ('OPENAI_API_KEY', 'AZURE_OPENAI_API_KEY', 'AZURE_OPENAI_ENDPOINT'): monkeypatch.delenv(v, raising=False)
    assert get_providers('openai,azure') == []
    out = capsys.readouterr().out
    assert 'skipped openai: set OPENAI_API_KEY' in out and 'skipped azure: set AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT' in out
    with pytest.raises(ValueError, match="unknown provider 'gemini'"): make_provider('gemini')
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test')
    assert make_provider('openai').model == 'gpt-4o'


def test_cli_with_nothing_to_run_says_so(monkeypatch, home, capsys):
    from jobsim.cli import main
    monkeypatch.delenv('DEEPSEEK_API_KEY', raising=False)
    assert main(['llm-bench', '--provider', 'deepseek', '--n', '6', '--no_embeddings']) == 1
    cap = capsys.readouterr()
    assert 'skipped deepseek: set DEEPSEEK_API_KEY' in cap.out and 'nothing to benchmark' in cap.err


def test_benchmark_items_have_true_labels(items):
    jt = load_jittered()
    seed_of, code_of = dict(zip(jt.jittered_title, jt.seed_title)), dict(zip(jt.seed_title, jt.onet_code))
    for r in items.itertuples():
        if r.kind == 'rank': assert r.candidates[r.answer - 1] == seed_of[r.a]
        elif r.label == 'same_seed': assert r.b == seed_of[r.a]
        elif r.label == 'same_code': assert r.b != seed_of[r.a] and code_of[r.b] == code_of[seed_of[r.a]]
        else: assert code_of[r.b][:2] != code_of[seed_of[r.a]][:2]
    assert items.kind.value_counts().to_dict() == {'pair': 8, 'rank': 4}


def test_local_smollm_answers_behind_an_openai_compatible_server(items):
    "The real SmolLM2 model, served on 127.0.0.1 and called through the openai SDK."
    p = make_provider('local-server')
    try:
        r = run_benchmark(p, pairs(items), ['rubric'], max_tokens=16, timeout=120, progress=False)
    finally: p.server.shutdown(); p.server.server_close()
    assert r.error.iloc[0] is None and r.tokens_in.iloc[0] > 100 and 0 < r.tokens_out.iloc[0] <= 16
    assert r.failure.iloc[0] in (None, 'unparseable', 'out_of_range', 'refusal')  # the reply arrived; whether it is usable is what the benchmark measures
