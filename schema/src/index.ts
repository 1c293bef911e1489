export * from './audit.js';
export * from './catalog.js';
export * from './clients.js';
export * from './common.js';
export * from './errors.js';
export * from './identity.js';
export * from './kill-switches.js';
export * from './runtime.js';
