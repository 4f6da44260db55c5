// Checks what the browser got from tcpserve, then says so by requesting report-ok?... or
// report-fail?why=... beside this page: the test reads the answer in tcpserve's access log.
"use strict";

const SEEK_TO = 2.5;

function report(name, query) {
    // A 404, and that is fine: only the request line matters.
    fetch(name + "?" + query, { cache: "no-store" }).catch(() => {});
}

// Resolves when `target` fires `event`; rejects with `why` if it fires `error` first.
function once(target, event, why) {
    return new Promise((resolve, reject) => {
        target.addEventListener(event, resolve, { once: true });
        target.addEventListener("error", () => reject(why), { once: true });
    });
}

async function check() {
    const color = getComputedStyle(document.getElementById("title")).color;
    if (color !== "rgb(1, 2, 3)") {
        throw "css: the title's colour is " + color;
    }

    const img = document.getElementById("dot");
    await img.decode().catch(() => { throw "img: not decoded"; });
    if (img.naturalWidth <= 0) {
        throw "img: naturalWidth " + img.naturalWidth;
    }

    const video = document.getElementById("clip");
    video.muted = true;
    await video.play().catch((e) => { throw "video: play refused: " + e; });
    const seeked = once(video, "seeked", "video: error while seeking");
    video.currentTime = SEEK_TO;
    await seeked;
    // Played on from the seek: a timeupdate past where it landed.
    await new Promise((resolve, reject) => {
        const past = () => {
            if (video.currentTime > SEEK_TO) {
                resolve();
            } else if (video.ended || video.error) {
                reject("video: stopped at " + video.currentTime);
            } else {
                video.addEventListener("timeupdate", past, { once: true });
            }
        };
        past();
    });
    return "css=1&img=1&video=1&t=" + video.currentTime.toFixed(2);
}

check().then(
    (query) => report("report-ok", query),
    (why) => report("report-fail", "why=" + encodeURIComponent(String(why))),
);
