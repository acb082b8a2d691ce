export * from '../../src/demo/static-server.ts';
