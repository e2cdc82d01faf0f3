// Starts `gatewayctl lsp` for the configs matched by `gatewayctl.files`.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("gatewayctl");
  const command = config.get("path", "gatewayctl");
  const documentSelector = config
    .get("files", [])
    .map((pattern) => ({ scheme: "file", pattern }));
  client = new LanguageClient(
    "gatewayctl",
    "gatewayctl",
    { command, args: ["lsp"] },
    { documentSelector, initializationOptions: { debounceMs: config.get("debounceMs", 150) } }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
