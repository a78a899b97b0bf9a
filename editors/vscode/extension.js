// The extension's client: starts the octolang language server (`octoc lsp`, LSP over stdio)
// for .octo files. Highlighting, brackets and snippets are declarative (package.json) and
// work without it; the server adds diagnostics, hover, go to definition and completion.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration('octo.server');
  return {
    command: config.get('command', 'octoc'),
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
      `octolang: could not start "${command}" (${err && err.message ? err.message : err}). ` +
        'Install octolang (pip install octolang) or set "octo.server.command" to the octoc in your virtual environment.',
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

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('octo.restartServer', async () => {
      await stop();
      await start(context);
    }),
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
  return stop();
}

module.exports = { activate, deactivate };
