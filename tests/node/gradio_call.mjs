// Gradio's JavaScript client (@gradio/client, the real package) calling a Lineup demo, for
// the Python tests: prints one line of JSON.
//
//   node gradio_call.mjs <demo url> <api name> <JSON list of inputs> [predict|submit]
//
// An input {"file": "<path>"} is sent as that file (handle_file). `predict` prints the
// result's data; `submit` prints every data message, in order.
import { readFile } from "node:fs/promises";
import { Client, handle_file } from "@gradio/client";

const [url, apiName, inputsJson, mode = "predict"] = process.argv.slice(2);
const inputs = await Promise.all(
  JSON.parse(inputsJson).map(async (value) =>
    value && typeof value === "object" && "file" in value
      ? handle_file(new Blob([await readFile(value.file)]))
      : value,
  ),
);
const client = await Client.connect(url);
if (mode === "submit") {
  const outputs = [];
  for await (const message of client.submit(apiName, inputs)) {
    if (message.type === "data") outputs.push(message.data);
    if (message.type === "status" && ["complete", "error"].includes(message.stage)) break;
  }
  console.log(JSON.stringify(outputs));
} else {
  const result = await client.predict(apiName, inputs);
  console.log(JSON.stringify(result.data));
}
process.exit(0);
