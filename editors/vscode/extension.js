// The extension's client: starts the octolang language server (`octoc lsp`, LSP over stdio)
// for .octo files, and runs `octoc check` and `octoc graph` on the open file. Highlighting,
// brackets and snippets are declarative (package.json) and work without octoc; the server
// adds diagnostics, hover, go to definition, completion, quick fixes, rename and formatting.
'use strict';

const path = require('path');
const os = require('os');
const fs = require('fs');
const { execFile } = require('child_process');
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

// octolang is not on a package index yet: `pip install octolang` would fail. This is
// how docs/install.md installs octoc.
const INSTALL_HINT =
  'Build octolang\'s wheel in its repository (python3 -m build) and install it ' +
  '(pip install dist/octolang-0.1.0-py3-none-any.whl; see docs/install.md), or pip install -e . in a checkout; ' +
  'then set "octo.server.command" to that octoc if it is not on PATH.';

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.OutputChannel | undefined} */
let output;

function octocCommand() {
  return vscode.workspace.getConfiguration('octo.server').get('command', 'octoc');
}

function serverOptions() {
  const config = vscode.workspace.getConfiguration('octo.server');
  return {
    command: octocCommand(),
    args: config.get('args', ['lsp']),
  };
}

async function start(context) {
  if (!vscode.workspace.getConfiguration('octo.server').get('enabled', true)) {
    return;
  }
  const server = serverOptions();
  client = new LanguageClient('octo', 'octolang language server', server, {
    documentSelector: [
      { scheme: 'file', language: 'octo' },
      { scheme: 'untitled', language: 'octo' },
    ],
    // Data files feed the checker (unit fields come from CSV/JSONL headers).
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{octo,csv,jsonl}'),
    },
  });
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    const command = [server.command, ...server.args].join(' ');
    vscode.window.showWarningMessage(
      `octolang: could not start "${command}" (${err && err.message ? err.message : err}). ${INSTALL_HINT}`,
    );
  }
}

async function stop() {
  if (client) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

/** Run octoc with `args` in `cwd`; resolves with its exit code and output, or rejects when it cannot start. */
function runOctoc(args, cwd) {
  return new Promise((resolve, reject) => {
    execFile(octocCommand(), args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(err); // ENOENT and the like: octoc is not there
        return;
      }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

/** The open .octo file, saved (octoc reads it from disk); undefined with a message otherwise. */
async function openOctoFile() {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'octo') {
    vscode.window.showInformationMessage('octolang: open a .octo file first.');
    return undefined;
  }
  const document = editor.document;
  if (document.isUntitled) {
    vscode.window.showInformationMessage('octolang: save the file first; octoc reads it from disk.');
    return undefined;
  }
  if (document.isDirty && !(await document.save())) {
    return undefined;
  }
  return document.uri.fsPath;
}

function cannotRun(err) {
  vscode.window.showErrorMessage(
    `octolang: could not run "${octocCommand()}" (${err && err.message ? err.message : err}). ${INSTALL_HINT}`,
  );
}

/** `octoc check FILE`, its output in the octolang output panel. */
async function checkFile() {
  const file = await openOctoFile();
  if (!file) {
    return;
  }
  let result;
  try {
    result = await runOctoc(['check', '--color', 'never', path.basename(file)], path.dirname(file));
  } catch (err) {
    cannotRun(err);
    return;
  }
  output = output || vscode.window.createOutputChannel('octolang');
  output.clear();
  output.appendLine(`$ octoc check ${path.basename(file)}`);
  output.append(result.stdout);
  output.append(result.stderr);
  output.show(true);
  const verdict = result.code === 0 ? 'no errors' : 'errors (see the octolang output panel)';
  vscode.window.setStatusBarMessage(`octoc check: ${verdict}`, 5000);
}

/** `octoc graph FILE` drawn as SVG in a panel beside the file; DOT text when Graphviz is missing. */
async function graphFile() {
  const file = await openOctoFile();
  if (!file) {
    return;
  }
  const target = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'octo-graph-')), 'pipeline.svg');
  let result;
  try {
    result = await runOctoc(['graph', path.basename(file), '-o', target], path.dirname(file));
  } catch (err) {
    cannotRun(err);
    return;
  }
  if (result.code === 0 && fs.existsSync(target)) {
    const panel = vscode.window.createWebviewPanel(
      'octoGraph',
      `graph: ${path.basename(file)}`,
      vscode.ViewColumn.Beside,
      { enableScripts: false },
    );
    const svg = fs.readFileSync(target, 'utf8');
    panel.webview.html =
      '<!DOCTYPE html><html><head><meta charset="utf-8">' +
      '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\';">' +
      `</head><body style="background:white">${svg}</body></html>`;
    return;
  }
  // Without Graphviz's `dot`, octoc still writes DOT: show that.
  let dot;
  try {
    dot = await runOctoc(['graph', path.basename(file)], path.dirname(file));
  } catch (err) {
    cannotRun(err);
    return;
  }
  if (dot.code !== 0) {
    vscode.window.showErrorMessage(`octoc graph: ${(result.stderr || dot.stderr).trim()}`);
    return;
  }
  const document = await vscode.workspace.openTextDocument({ content: dot.stdout, language: 'dot' });
  await vscode.window.showTextDocument(document, vscode.ViewColumn.Beside);
  vscode.window.showInformationMessage(`octoc graph: ${result.stderr.trim().split('\n')[0]} Showing DOT instead.`);
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('octo.restartServer', async () => {
      await stop();
      await start(context);
    }),
    vscode.commands.registerCommand('octo.check', checkFile),
    vscode.commands.registerCommand('octo.graph', graphFile),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('octo.server')) {
        await stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

function deactivate() {
  if (output) {
    output.dispose();
  }
  return stop();
}

module.exports = { activate, deactivate, INSTALL_HINT };
