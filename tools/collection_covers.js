// collection_covers.js — every operation of docs/openapi.json has at least one
// request in docs/coffee.postman_collection.json (same method, same path with
// any value in a {parameter} segment), so a route added to the contract fails
// scripts/contract.sh until the collection has an item for it.
//
//   node tools/collection_covers.js docs/openapi.json docs/coffee.postman_collection.json
//
// Exit 0 when every operation is covered, 1 listing the ones that are not.
"use strict";
const fs = require("fs");

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// The requests of a collection: folders nest items; a request's path is its
// url.path segments (a Postman {{variable}} stands for any one segment).
function requests(items, out) {
    for (const it of items || []) {
        if (it.item)
            requests(it.item, out);
        if (it.request) {
            const url = it.request.url || {};
            const segs = Array.isArray(url.path) ? url.path : String(url.raw || "")
                .replace(/^\{\{baseUrl\}\}/, "").split("/").filter(Boolean);
            out.push({ name: it.name, method: it.request.method.toLowerCase(), segs: segs });
        }
    }
    return out;
}

// A request matches an OpenAPI path template segment by segment; a
// {parameter} segment takes any non-empty value.
function matches(template, segs) {
    const t = template.split("/").filter(Boolean);
    return t.length === segs.length && t.every(function (s, i) {
        return /^\{[^}]+\}$/.test(s) ? segs[i].length > 0 : s === segs[i];
    });
}

const [docPath, collPath] = process.argv.slice(2);
if (!docPath || !collPath) {
    console.error("usage: node collection_covers.js OPENAPI.json COLLECTION.json");
    process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(docPath, "utf8"));
const reqs = requests(JSON.parse(fs.readFileSync(collPath, "utf8")).item, []);
const missing = [];
let operations = 0;
for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
        if (!item[method])
            continue;
        operations++;
        if (!reqs.some(function (r) { return r.method === method && matches(path, r.segs); }))
            missing.push(method.toUpperCase() + " " + path);
    }
}
for (const m of missing)
    console.log("collection_covers: no request in " + collPath + " for " + m);
console.log("collection_covers: " + (operations - missing.length) + " of " + operations +
            " operations covered by " + reqs.length + " requests");
process.exit(missing.length ? 1 : 0);
