// Lint: typescript-eslint's recommended rules; the type checker (npm run typecheck) does the rest.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'runs/', 'data/', '.cache/', 'dist/', 'src/config/types.gen.ts', 'src/runs/validators.gen.ts', 'bench/gpu/.carry/', 'bench/gpu/out/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-console': 'error',
    },
  },
  { files: ['bench/**', 'scripts/**', 'test/**'], rules: { 'no-console': 'off' } },
);
