// ioredis is an optional peer dependency: a Redis store without it says how to install it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadIoredis } from '../../../../src/server/store/redis/store.js';

test('a missing ioredis is named with the command that installs it', async () => {
  const missing = Object.assign(new Error("Cannot find package 'ioredis'"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  await assert.rejects(
    loadIoredis(() => Promise.reject(missing)),
    {
      message:
        'the Redis store needs the ioredis package, which is not installed: npm install ioredis',
    },
  );
  const other = new Error('something else');
  await assert.rejects(
    loadIoredis(() => Promise.reject(other)),
    other,
  );
  assert.equal(typeof (await loadIoredis()).Redis, 'function');
});
