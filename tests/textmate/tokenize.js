#!/usr/bin/env node
// Tokenizes .octo files with the engine VS Code uses (vscode-textmate on vscode-oniguruma)
// and prints, as JSON, every line's tokens with their scopes. tests/test_editors.py runs it,
// so the grammar is tested as VS Code would run it, not by a re-implementation.
//
//   node tokenize.js [--grammar PATH] [--embed PATH]... FILE...
//
// Grammars other than source.octo (source.python, embedded in code blocks) are absent unless
// given with --embed: the engine is told so and must still tokenize; their names are listed
// under "absent".
'use strict';

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const DEFAULT_GRAMMAR = path.join(__dirname, '..', '..', 'editors', 'vscode', 'syntaxes', 'octo.tmLanguage.json');

function parseArgs(argv) {
  let grammarPath = DEFAULT_GRAMMAR;
  const embedded = [];
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--grammar') {
      grammarPath = argv[++i];
    } else if (argv[i] === '--embed') {
      embedded.push(argv[++i]);
    } else {
      files.push(argv[i]);
    }
  }
  if (files.length === 0) {
    throw new Error('usage: node tokenize.js [--grammar PATH] [--embed PATH]... FILE...');
  }
  return { grammarPath, embedded, files };
}

function readGrammar(grammarPath) {
  return vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath);
}

async function loadRegistry(grammarPath, embeddedPaths, absent) {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const raw = readGrammar(grammarPath);
  const embedded = new Map(embeddedPaths.map((p) => readGrammar(p)).map((g) => [g.scopeName, g]));
  return {
    scopeName: raw.scopeName,
    registry: new vsctm.Registry({
      onigLib: Promise.resolve({
        createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
        createOnigString: (text) => new oniguruma.OnigString(text),
      }),
      loadGrammar: async (scopeName) => {
        if (scopeName === raw.scopeName) {
          return raw;
        }
        if (embedded.has(scopeName)) {
          return embedded.get(scopeName);
        }
        absent.add(scopeName);
        return null;
      },
    }),
  };
}

function tokenizeFile(grammar, filePath) {
  // The compiler reads \r\n and \r as \n (docs/language.md); so does this.
  const lines = fs.readFileSync(filePath, 'utf8').replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') {
    lines.pop();
  }
  let state = vsctm.INITIAL;
  const out = [];
  for (const line of lines) {
    const result = grammar.tokenizeLine(line, state);
    out.push(result.tokens.map((t) => ({
      start: t.startIndex,
      end: Math.min(t.endIndex, line.length),
      text: line.slice(t.startIndex, t.endIndex),
      scopes: t.scopes,
    })));
    state = result.ruleStack;
  }
  return { path: filePath, lines: out };
}

async function main() {
  const { grammarPath, embedded, files } = parseArgs(process.argv.slice(2));
  const absent = new Set();
  const { scopeName, registry } = await loadRegistry(grammarPath, embedded, absent);
  const grammar = await registry.loadGrammar(scopeName);
  if (grammar === null) {
    throw new Error(`grammar ${scopeName} did not load from ${grammarPath}`);
  }
  const tokenized = files.map((f) => tokenizeFile(grammar, f));
  process.stdout.write(JSON.stringify({ scopeName, absent: [...absent].sort(), files: tokenized }));
  process.stdout.write('\n');
}

main().catch((err) => {
  process.stderr.write(`tokenize.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
