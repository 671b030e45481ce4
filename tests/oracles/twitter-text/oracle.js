// The official twitter-text library as a judge: reads {"texts": [...]} as JSON on stdin and writes one answer per
// text as JSON on stdout. Indexes are in code points (Python string indexes), not UTF-16 code units.
"use strict";

const twitter = require("twitter-text");
const { parse: parseEmoji } = require("twemoji-parser");

function codePointIndex(text, utf16Index) {
  return Array.from(text.slice(0, utf16Index)).length;
}

function judge(text) {
  const parsed = twitter.parseTweet(text);
  const urls = twitter.extractUrlsWithIndices(text).map((entity) => ({
    url: entity.url,
    start: codePointIndex(text, entity.indices[0]),
    end: codePointIndex(text, entity.indices[1]),
  }));
  const normalized = text.normalize();
  const emoji = parseEmoji(normalized).map((entity) => [
    codePointIndex(normalized, entity.indices[0]),
    codePointIndex(normalized, entity.indices[1]),
  ]);
  return { weightedLength: parsed.weightedLength, valid: parsed.valid, urls, emoji };
}

const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const { texts } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  process.stdout.write(JSON.stringify({ version: require("twitter-text/package.json").version, answers: texts.map(judge) }));
});
