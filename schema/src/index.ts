export * from './audit.js';
export * from './common.js';
export * from './errors.js';
export * from './identity.js';
