// ESLint flat config: typescript-eslint's recommended and recommended-type-checked rule sets over the
// whole TypeScript tree, with the project service (each file is checked against the tsconfig that
// includes it). Every rule switched off or relaxed below says why.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['cdk.out/**', 'dist/**', 'coverage/**', 'node_modules/**', 'docs/api/**', 'api/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // CDK idiom: `new Construct(scope, id, props)` registers the construct in the tree; the
      // instance is often not needed afterwards. Discarding it is the point, not a mistake.
      'no-new': 'off',
      // Unused names are also refused by tsc (noUnusedLocals/noUnusedParameters); here we keep the
      // usual escape hatch for a deliberately ignored argument or destructured rest sibling.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Lambda handlers must be `async` (the runtime awaits the returned promise) even when a path
      // does not await, and interface implementations keep the async signature they promise.
      '@typescript-eslint/require-await': 'off',
      // Numbers and booleans in messages are the norm for validation errors ("got 0"); objects and
      // `unknown` still have to be stringified on purpose.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      // Only `import type` for types (STYLE.md: "`import type` for types"). An inline
      // `import('x').T` annotation is type-only by construction, so it stays allowed.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports', disallowTypeAnnotations: false }],
      // A `let` that closures read before its one assignment (a server's handler reading the
      // object the server is then passed to) cannot be a `const`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests: jest matchers take methods unbound by design (`expect(client.send).toHaveBeenCalled()`),
    // and assertions walk CloudFormation templates (`Template.toJSON()`, `findResources`) and JSON
    // bodies that are `any` by type; the unsafe-any family would force a cast on every such line
    // without catching anything the assertion itself does not. Product code, benches and tools
    // keep all of these rules.
    files: ['test/**/*.ts', 'tools/*/test/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (jest.config.js, the local run's worker): no type information to check with.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { ...globals.node },
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: {
      // CommonJS config files (jest.config.js) use require/module.exports.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
