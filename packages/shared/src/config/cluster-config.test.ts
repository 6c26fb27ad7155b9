import t from 'tap';
import { ConfigError, parseClusterConfig } from './cluster-config.js';

const base = { meta: [{ id: 'm1', url: 'http://127.0.0.1:7101', dc: 'dc1' }], auth: { token: 'config-test-token' } };

t.test("local deep storage's directIo: a boolean, off unless set, and a misspelling is named", async (t) => {
  const on = parseClusterConfig({ ...base, deepStorage: { type: 'local', path: 'deep', directIo: true } }, {});
  t.same(on.deepStorage, { type: 'local', path: 'deep', directIo: true });
  const absent = parseClusterConfig({ ...base, deepStorage: { type: 'local', path: 'deep' } }, {});
  t.equal((absent.deepStorage as { directIo?: boolean }).directIo, undefined, 'absent stays absent (the store defaults it to off)');
  const refusal = (deepStorage: unknown): string => {
    try {
      parseClusterConfig({ ...base, deepStorage }, {});
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return 'accepted';
  };
  t.match(refusal({ type: 'local', path: 'deep', directIO: true }), /unknown key "directIO"/, 'a misspelling is named');
  t.match(refusal({ type: 'local', path: 'deep', directIo: 'yes' }), /directIo/, 'a non-boolean is named');
});
