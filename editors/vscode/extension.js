// The resdsl extension: highlighting comes from syntaxes/res.tmLanguage.json;
// this starts the language server (`resdsl lsp`, over stdio) for .res files.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("resdsl")
    .get("server.command", ["resdsl", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "resdsl",
    "resdsl language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "resdsl" }, { scheme: "untitled", language: "resdsl" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
