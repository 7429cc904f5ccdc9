import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** The package version, read from package.json (one level up from src/ and from dist/). */
export const version: string = (require('../package.json') as { version: string }).version;
export const userAgent = `dash-farm-proxy/${version}`;
