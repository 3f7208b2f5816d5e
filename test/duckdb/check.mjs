// Independent reader for a bltpipe output directory (see pipelines/independent_test.go).
// Usage: node check.mjs OUTDIR
// Prints one JSON object of facts computed by DuckDB over documents/ and
// patches/ and by Apache Arrow JS over blt/*.arrow. Nothing here shares code
// with the Go writers.
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node check.mjs OUTDIR');
  process.exit(2);
}
const q = (s) => s.replaceAll("'", "''");
const docs = `read_parquet('${q(join(out, 'documents', '*.parquet'))}')`;
const patches = `read_parquet('${q(join(out, 'patches', '*.parquet'))}')`;

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
async function rows(sql) {
  const r = await con.runAndReadAll(sql);
  return r.getRowObjects();
}
async function one(sql) {
  return (await rows(sql))[0];
}

const facts = {};
facts.documents = await one(`SELECT count(*) AS rows, sum(num_tokens) AS tokens, sum(num_bytes) AS bytes,
  count(DISTINCT doc_id) AS distinct_ids,
  sum(CASE WHEN len(entropies) <> num_tokens OR len(prominence) <> num_tokens THEN 1 ELSE 0 END) AS bad_lengths,
  sum(CASE WHEN list_sum(patch_lengths) <> num_tokens THEN 1 ELSE 0 END) AS bad_patch_sums
  FROM ${docs}`);
// --embeddings none writes no embedding column.
const patchCols = (await rows(`DESCRIBE SELECT * FROM ${patches}`)).map((r) => r.column_name);
const emb = patchCols.includes('embedding');
facts.patches = await one(`SELECT count(*) AS rows, sum(num_tokens) AS tokens,
  ${emb ? 'min(len(embedding))' : 'NULL'} AS min_dim, ${emb ? 'max(len(embedding))' : 'NULL'} AS max_dim FROM ${patches}`);
// --model none leaves the per-token lists and the patch summaries null.
facts.nulls = await one(`SELECT
  (SELECT count(*) FROM ${docs} WHERE entropies IS NULL) AS entropies,
  (SELECT count(*) FROM ${docs} WHERE prominence IS NULL) AS prominence,
  (SELECT count(*) FROM ${patches} WHERE mean_entropy IS NULL AND max_entropy IS NULL
     AND mean_prominence IS NULL AND max_prominence IS NULL) AS patch_summaries`);
facts.patch_mismatches = await one(`SELECT count(*) AS n FROM ${docs} d
  LEFT JOIN (SELECT doc_id, count(*) AS n, max(patch_index) AS last FROM ${patches} GROUP BY doc_id) p USING (doc_id)
  WHERE p.n IS NULL OR p.n <> len(d.patch_lengths) OR p.last <> len(d.patch_lengths) - 1`);
// patches joined with documents on doc_id: each patch's token range lies in
// its document, its byte range is PatchBytes of that range, and its
// mean/max entropy are the mean/max of the document's entropies over it
// (DuckDB lists are 1-based: tokens [o, o+n) are entropies[o+1 : o+n]).
facts.join = await one(`SELECT count(*) AS rows,
  count(DISTINCT p.doc_id) AS docs,
  sum(CASE WHEN p.token_offset + p.num_tokens > d.num_tokens THEN 1 ELSE 0 END) AS out_of_range,
  sum(CASE WHEN p.byte_offset <> least(greatest(p.token_offset, 1) - 1, d.num_bytes)
             OR p.byte_offset + p.byte_length <> least(greatest(p.token_offset + p.num_tokens, 1) - 1, d.num_bytes)
           THEN 1 ELSE 0 END) AS bad_bytes,
  max(abs(p.mean_entropy - list_avg(d.entropies[p.token_offset + 1 : p.token_offset + p.num_tokens]))) AS max_mean_err,
  max(abs(p.max_entropy - list_max(d.entropies[p.token_offset + 1 : p.token_offset + p.num_tokens]))) AS max_max_err
  FROM ${patches} p JOIN ${docs} d USING (doc_id)`);
// A few exact values, by doc_id, for the Go side to compare.
facts.samples = await rows(`SELECT doc_id, num_tokens, entropies[1] AS e0, entropies[-1] AS e_last,
  prominence[2] AS p1, patch_lengths[1] AS l0 FROM ${docs} ORDER BY doc_id LIMIT 5`);
facts.patch_samples = await rows(`SELECT doc_id, patch_index, byte_offset, byte_length, ${emb ? 'embedding[1]' : 'NULL'} AS v0
  FROM ${patches} ORDER BY doc_id, patch_index LIMIT 5`);

const bltDir = join(out, 'blt');
facts.blt = { files: 0, rows: 0, entropies: 0, complete: 0, samples: [] };
if (existsSync(bltDir)) {
  for (const f of readdirSync(bltDir).sort()) {
    if (f.endsWith('.arrow.complete')) facts.blt.complete++;
    if (!f.endsWith('.arrow')) continue;
    const t = tableFromIPC(readFileSync(join(bltDir, f)));
    facts.blt.files++;
    facts.blt.rows += t.numRows;
    facts.blt.schema = t.schema.fields.map((x) => `${x.name}:${x.type}`);
    for (const row of t) {
      const e = row.entropies;
      facts.blt.entropies += e.length;
      if (facts.blt.samples.length < 3) {
        facts.blt.samples.push({ sample_id: row.sample_id, text_len: Buffer.byteLength(row.text, 'utf8'), n: e.length, e0: Number(e.get(0)) });
      }
    }
  }
}
console.log(JSON.stringify(facts, (_, v) => (typeof v === 'bigint' ? Number(v) : v)));
