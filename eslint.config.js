import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'programs/build/**', 'grafana-plugin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly' },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['agent/src/**/*.ts'],
    ignores: ['agent/src/bpf/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'koffi', message: 'Only the kernel layer (agent/src/bpf) may import koffi.' }] }],
      'no-console': 'error',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'programs/**/*.ts', 'scripts/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'koffi', message: 'Only the kernel layer (agent/src/bpf) may import koffi.' }] }],
    },
  },
);
