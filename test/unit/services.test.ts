import { describe, expect, it } from 'vitest';
import { chooseServiceMode, dockerReachable } from '../harness/services.js';

describe('where the test services come from', () => {
  it('uses containers when a Docker engine answers', () => {
    expect(chooseServiceMode({ requested: undefined, dockerReachable: true })).toBe('containers');
  });

  it('uses the local services and CongoDB without one', () => {
    expect(chooseServiceMode({ requested: undefined, dockerReachable: false })).toBe('local');
  });

  it('follows SLUICE_TEST_SERVICES either way', () => {
    expect(chooseServiceMode({ requested: 'local', dockerReachable: true })).toBe('local');
    expect(chooseServiceMode({ requested: 'containers', dockerReachable: false })).toBe('containers');
  });

  it('rejects a value it does not know', () => {
    expect(() => chooseServiceMode({ requested: 'kubernetes', dockerReachable: true })).toThrow(/SLUICE_TEST_SERVICES/);
  });

  it('answers no at once when neither DOCKER_HOST nor a socket suggests an engine', async () => {
    expect(await dockerReachable({}, '/nonexistent/docker.sock')).toBe(false);
  });
});
