// The channelUrl helpers of every engine sign a channel id as channelUrl(id, {signed}) does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Eta } from 'eta';
import Handlebars from 'handlebars';
import nunjucks from 'nunjucks';
import { channelUrl } from '../../src/channel/urls.js';
import { etaHelpers } from '../../src/eta/index.js';
import { registerHelpers } from '../../src/handlebars/index.js';
import { install } from '../../src/nunjucks/index.js';
import { resolveSettings } from '../../src/settings/index.js';

const settings = resolveSettings({
  secret: 'a secret of more than thirty-two characters, for tests',
  locations: [
    { type: 'publisher', prefix: '/publisher/' },
    { type: 'subscriber', prefix: '/private/', signed: true },
  ],
});
const options = { settings };
const signed = channelUrl("it's", { settings, signed: true });
const EXPIRING = /^http:\/\/127\.0\.0\.1:8001\/private\/it%27s\?exp=(\d+)&sig=[\w-]+$/;

describe('channelUrl helpers with signed', () => {
  test('the signed URL is the one channelUrl gives', () => {
    assert.match(signed, /^http:\/\/127\.0\.0\.1:8001\/private\/it%27s\?sig=[\w-]{43}$/);
  });

  test('nunjucks: keywords on the tag, an object on the global', () => {
    const env = install(new nunjucks.Environment(null, { autoescape: true }), options);
    assert.equal(env.renderString(`{% channel_url "it's", signed=true %}`, {}), signed);
    assert.equal(env.renderString(`{{ channelUrl("it's", {signed: true}) }}`, {}), signed);
    const expiring = env.renderString(`{% channel_url "it's", expiresIn=60 %}`, {});
    const exp = Number(EXPIRING.exec(expiring)?.[1]);
    assert.ok(Math.abs(exp - (Date.now() / 1000 + 60)) < 5, expiring);
    assert.throws(
      () => env.renderString(`{% channel_url "it's", sign=true %}`, {}),
      /\{% channel_url %\}: unknown option "sign"; the options are signed and expiresIn/,
    );
  });

  test('handlebars: hash arguments', () => {
    const handlebars = registerHelpers(Handlebars.create(), options);
    assert.equal(handlebars.compile(`{{channelUrl "it's" signed=true}}`)({}), signed);
    assert.match(handlebars.compile(`{{channelUrl "it's" expiresIn=60}}`)({}), EXPIRING);
  });

  test('eta (and Express locals): an options object', () => {
    const eta = new Eta();
    assert.equal(
      eta.renderString(`<%= it.channelUrl("it's", { signed: true }) %>`, etaHelpers(options)),
      signed,
    );
  });

  test('unsigned stays as it was', () => {
    const env = install(new nunjucks.Environment(null, { autoescape: true }), options);
    assert.equal(env.renderString(`{% channel_url "it's" %}`, {}), channelUrl("it's", settings));
  });
});
