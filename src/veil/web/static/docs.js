// Lists the operations of /openapi.json; a local page instead of Swagger UI, which loads from a CDN.
"use strict";
fetch("/openapi.json").then((r) => r.json()).then((spec) => {
  const box = document.getElementById("ops");
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const h = document.createElement("h2");
      h.textContent = `${method.toUpperCase()} ${path}`;
      const p = document.createElement("p");
      const params = (op.parameters || []).filter((x) => x.in !== "header").map((x) => `${x.name} (${x.in})`);
      const body = op.requestBody ? " · JSON body" : "";
      p.textContent = `${op.summary || ""}${params.length ? " · parameters: " + params.join(", ") : ""}${body}`;
      box.append(h, p);
    }
  }
  const schemas = document.createElement("pre");
  schemas.textContent = JSON.stringify((spec.components || {}).schemas || {}, null, 1);
  box.append(schemas);
});
