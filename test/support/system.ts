import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A system part some tests need, how to find it and how to install it. */
export interface SystemPart {
  name: string;
  present: () => boolean;
  install: string;
}

export const NCHAN: SystemPart = {
  name: 'nginx with the nchan module',
  present: () => !!nginxBinary() && existsSync('/usr/lib/nginx/modules/ngx_nchan_module.so'),
  install: 'apt-get install -y nginx-light libnginx-mod-nchan',
};

export const REDIS: SystemPart = {
  name: 'redis-server',
  present: () => onPath('redis-server'),
  install: 'apt-get install -y redis-server',
};

export const CHROMIUM: SystemPart = {
  name: 'chromium',
  present: () => existsSync('/usr/bin/chromium'),
  install: 'apt-get install -y chromium',
};

/** The npm registry, for tests that install the packed tarball into a throwaway app. */
export const NPM_REGISTRY: SystemPart = {
  name: 'a reachable npm registry',
  present: () => spawnSync('npm', ['ping'], { stdio: 'ignore', timeout: 30_000 }).status === 0,
  install: 'network access to it (`npm ping` must answer)',
};

export function nginxBinary(): string | undefined {
  if (onPath('nginx')) return 'nginx';
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The `skip` option for `describe` / `test` when a system part is missing.
 * Under CI=true a missing part is an error (never a silent pass); elsewhere the
 * tests are skipped with the install command in the reason.
 *
 * @example describe('against Nchan', { skip: needs(NCHAN) }, () => { ... });
 */
export function needs(...parts: SystemPart[]): string | false {
  const missing = parts.filter((part) => !part.present());
  if (missing.length === 0) return false;
  const message = missing
    .map((part) => `${part.name} is missing; install it with: ${part.install}`)
    .join('; ');
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  return message;
}
