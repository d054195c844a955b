// zpipe textures for Unity: build the selected materials' textures with the zpipe CLI and import them.
//
// Assets > zpipe > Build Textures for Selected Materials: writes a hook-protocol request (version 1,
// pipeline/docs/hook-protocol.md) and sends it to a running `zpipe serve` when one answers (its engine stays
// loaded; Assets > zpipe > Settings sets its address, default http://127.0.0.1:8765), else runs
// `zpipe hook export --request FILE --json` (the CLI path is set under Assets > zpipe > Settings, stored in
// EditorPrefs). A cancelable progress bar shows the assets done so far (the server's progress, or the CLI's
// per-asset lines) while it builds. Then it imports the returned files, which zpipe puts in
// Assets/ZpipeTextures/<material>/. The request asks for the export preset of the project's render
// pipeline: unity-hdrp (adds HDRP's mask map: metallic, AO, detail mask, smoothness) or unity-urp (adds the
// metallic map with smoothness in alpha, also read by the built-in Standard shader), with OpenGL normals.
// The AssetPostprocessor below sets the importer options of every file there: normal maps as NormalMap,
// sRGB on for the albedo only (data maps: normal, roughness, AO, height, mask, metallic), wrap mode Repeat.
// Then every map is assigned to the material where its shader has the slot (HDRP / URP / Standard names),
// with the keywords that turn the slot on.
//
// A material's zpipe description is its importer's userData, e.g. {"description": "mossy granite", "size": 512}
// or {"prompt": "…"}; without one, the material's name is the description. Put this file in an Editor folder.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net;
using System.Threading;
using System.Text;
using UnityEditor;
using UnityEngine;

namespace Zpipe.Editor
{
    [Serializable]
    public class ZpipeMap
    {
        public string role;
        public string path;
        public string colour_space;
    }

    [Serializable]
    public class ZpipeResult
    {
        public string name;
        public string status;
        public string error;
        public string folder;
        public string normal_y;
        public ZpipeMap[] maps;
    }

    [Serializable]
    public class ZpipeAnswer
    {
        public int version;
        public bool ok;
        public string error;
        public string[] errors;
        public ZpipeResult[] results;
    }

    [Serializable]
    public class ZpipeProgress
    {
        public int done;
        public int total;
    }

    /// <summary>A build of `zpipe serve` (GET /api/builds/ID).</summary>
    [Serializable]
    public class ZpipeBuildStatus
    {
        public string id;
        public string state;
        public ZpipeProgress progress;
        public string error;
    }

    [Serializable]
    public class ZpipeHealth
    {
        public int hook_protocol;
    }

    [Serializable]
    public class ZpipeMaterialSpec
    {
        public string description;
        public string prompt;
        public int size;
        public int seed = -1;
    }

    /// <summary>The hook protocol without Unity types: request JSON, running the CLI, the answer.</summary>
    public static class ZpipeHook
    {
        public const int ProtocolVersion = 1;

        public static string Quote(string s)
        {
            var b = new StringBuilder("\"");
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (c < 0x20) b.AppendFormat("\\u{0:x4}", (int)c); else b.Append(c);
                        break;
                }
            }
            return b.Append('"').ToString();
        }

        /// <summary>One material: exactly one of prompt or description; size 0 and seed -1 mean "default".</summary>
        public static string MaterialJson(string name, string description, string prompt, int size, int seed)
        {
            var b = new StringBuilder("{\"name\": ").Append(Quote(name));
            if (!string.IsNullOrEmpty(prompt)) b.Append(", \"prompt\": ").Append(Quote(prompt));
            else b.Append(", \"description\": ").Append(Quote(string.IsNullOrEmpty(description) ? name : description));
            if (size > 0) b.Append(", \"size\": ").Append(size.ToString(CultureInfo.InvariantCulture));
            if (seed >= 0) b.Append(", \"seed\": ").Append(seed.ToString(CultureInfo.InvariantCulture));
            return b.Append('}').ToString();
        }

        public static string RequestJson(string target, string store, string engine, string preset, IList<string> materials)
        {
            var b = new StringBuilder("{\"version\": ").Append(ProtocolVersion);
            b.Append(", \"name\": \"unity\", \"target\": ").Append(Quote(target));
            if (!string.IsNullOrEmpty(store)) b.Append(", \"store\": ").Append(Quote(store));
            b.Append(", \"engine\": ").Append(Quote(string.IsNullOrEmpty(engine) ? "auto" : engine));
            // files named by the preset's suffix (Albedo.png, MaskMap.png …) inside each material's folder
            b.Append(", \"output\": {\"formats\": [\"png\"], \"preset\": ").Append(Quote(preset))
             .Append(", \"naming\": \"{suffix}\"}");
            b.Append(", \"materials\": [").Append(string.Join(", ", materials)).Append("]}");
            return b.ToString();
        }

        /// <summary>Run `CLI hook export --request FILE --json` and wait; returns (exit code, stdout, stderr).</summary>
        public static int Run(string cli, string requestJson, int timeoutSeconds, out string stdout, out string stderr)
        {
            var build = new ZpipeCliBuild(cli, requestJson, timeoutSeconds);
            float fraction;
            string message;
            while (!build.Poll(out fraction, out message)) Thread.Sleep(50);
            return build.Finish(out stdout, out stderr);
        }

        /// <summary>Start an export without waiting: through `zpipe serve` at <paramref name="server"/> when it
        /// answers and takes the request (a target inside its folders), else through the CLI.</summary>
        public static ZpipeBuild Start(string cli, string server, string token, string requestJson, int timeoutSeconds)
        {
            if (!string.IsNullOrEmpty(server))
            {
                try
                {
                    string text, exit;
                    if (Http("GET", server.TrimEnd('/') + "/api/health", token, null, 1000, out text, out exit) == 200 &&
                        JsonUtility.FromJson<ZpipeHealth>(text).hook_protocol == ProtocolVersion)
                        return new ZpipeServerBuild(server.TrimEnd('/'), token, requestJson);
                }
                catch (WebException) { }  // no server: the CLI
                catch (ZpipeServerRefused) { }  // e.g. a target outside the server's folders: the CLI
            }
            return new ZpipeCliBuild(cli, requestJson, timeoutSeconds);
        }

        /// <summary>One HTTP request; returns the status code (HTTP errors are answers too; no server throws WebException).</summary>
        public static int Http(string method, string url, string token, string body, int timeoutMs, out string text, out string exitCode)
        {
            var req = (HttpWebRequest)WebRequest.Create(url);
            req.Method = method;
            req.Timeout = timeoutMs;
            req.Proxy = null;  // the server is local: never through a proxy
            req.ContentType = "application/json";
            if (!string.IsNullOrEmpty(token)) req.Headers["Authorization"] = "Bearer " + token;
            if (body != null)
            {
                var bytes = new UTF8Encoding(false).GetBytes(body);
                req.ContentLength = bytes.Length;
                using (var s = req.GetRequestStream()) s.Write(bytes, 0, bytes.Length);
            }
            HttpWebResponse resp;
            try { resp = (HttpWebResponse)req.GetResponse(); }
            catch (WebException e)
            {
                resp = e.Response as HttpWebResponse;
                if (resp == null) throw;
            }
            using (resp)
            using (var reader = new StreamReader(resp.GetResponseStream(), Encoding.UTF8))
            {
                text = reader.ReadToEnd();
                exitCode = resp.Headers["X-Zpipe-Exit"];
                return (int)resp.StatusCode;
            }
        }

        /// <summary>The export preset for a render pipeline asset's type name (null: the built-in pipeline).</summary>
        public static string PresetFor(string pipelineAssetType)
        {
            if (pipelineAssetType != null && pipelineAssetType.Contains("HDRenderPipeline")) return "unity-hdrp";
            return "unity-urp";  // URP, and the built-in Standard shader, which reads the same metallic map layout
        }

        /// <summary>Only the albedo holds colour (sRGB); every other map is linear data.</summary>
        public static bool IsDataMap(string role)
        {
            return role != "albedo";
        }

        /// <summary>The role of a file zpipe wrote with the preset's {suffix} naming (or named by role).</summary>
        public static string RoleOfFileName(string stem)
        {
            switch (stem.ToLowerInvariant())
            {
                case "occlusion": return "ao";
                case "maskmap": return "mask";
                case "metallicsmoothness": return "metallic_smoothness";
                default: return stem.ToLowerInvariant();
            }
        }
    }

    /// <summary>A running export; Poll() returns at once.</summary>
    public abstract class ZpipeBuild
    {
        public string Via;
        /// <summary>True once finished; the fraction done and a line for the progress bar.</summary>
        public abstract bool Poll(out float fraction, out string message);
        /// <summary>The exit code and the answer JSON, as `zpipe hook export --json` gives them.</summary>
        public abstract int Finish(out string stdout, out string stderr);
        public abstract void Cancel();
    }

    public class ZpipeServerRefused : Exception
    {
        public ZpipeServerRefused(string message) : base(message) { }
    }

    /// <summary>`zpipe hook export` as a child process; progress from its "zpipe hook: built NAME" lines.</summary>
    public class ZpipeCliBuild : ZpipeBuild
    {
        readonly Process process;
        readonly StringBuilder output = new StringBuilder(), errors = new StringBuilder();
        readonly string requestPath;
        readonly DateTime deadline;
        readonly int total, timeoutSeconds;
        int done;

        public ZpipeCliBuild(string cli, string requestJson, int timeoutSeconds)
        {
            Via = "CLI";
            this.timeoutSeconds = timeoutSeconds;
            deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
            total = Math.Max(1, Count(requestJson, "\"name\": ") - 1);  // the materials (the request's own name aside)
            requestPath = Path.Combine(Path.GetTempPath(), "zpipe-request-" + Guid.NewGuid().ToString("N") + ".json");
            File.WriteAllText(requestPath, requestJson, new UTF8Encoding(false));
            var info = new ProcessStartInfo(cli, "hook export --json --request \"" + requestPath + "\"")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                CreateNoWindow = true,
                StandardOutputEncoding = Encoding.UTF8,
                StandardErrorEncoding = Encoding.UTF8,
            };
            process = new Process { StartInfo = info };
            process.OutputDataReceived += (o, e) => { if (e.Data != null) lock (output) output.Append(e.Data).Append('\n'); };
            process.ErrorDataReceived += (o, e) =>
            {
                if (e.Data == null) return;
                lock (errors) errors.Append(e.Data).Append('\n');
                if (e.Data.StartsWith("zpipe hook: built ") || e.Data.StartsWith("zpipe hook: reused ") ||
                    e.Data.StartsWith("zpipe hook: failed ")) Interlocked.Increment(ref done);
            };
            try
            {
                process.Start();
            }
            catch (Exception)
            {
                File.Delete(requestPath);
                throw;
            }
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        static int Count(string text, string what)
        {
            int n = 0;
            for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
            return n;
        }

        public override bool Poll(out float fraction, out string message)
        {
            bool exited = process.HasExited;
            if (!exited && DateTime.UtcNow > deadline)
            {
                Cancel();
                throw new TimeoutException("zpipe did not finish in " + timeoutSeconds + " s");
            }
            fraction = exited ? 1f : Math.Min(1f, (float)done / total);  // an up-to-date build prints no lines
            message = "zpipe (CLI): " + Math.Min(done, total) + "/" + total + " materials";
            return exited;
        }

        public override int Finish(out string stdout, out string stderr)
        {
            process.WaitForExit();  // also waits for the output to be read to its end
            File.Delete(requestPath);
            lock (output) stdout = output.ToString();
            lock (errors) stderr = errors.ToString();
            return process.ExitCode;
        }

        public override void Cancel()
        {
            if (!process.HasExited) process.Kill();  // finished assets stay staged: the next build resumes
            File.Delete(requestPath);
        }
    }

    /// <summary>A request handed to `zpipe serve` (POST /hook?wait=0), polled at GET /api/builds/ID.</summary>
    public class ZpipeServerBuild : ZpipeBuild
    {
        readonly string server, token, id;
        string answer, exit;

        public ZpipeServerBuild(string server, string token, string requestJson)
        {
            Via = "server";
            this.server = server;
            this.token = token;
            string text;
            int status = ZpipeHook.Http("POST", server + "/hook?wait=0", token, requestJson, 30000, out text, out exit);
            if (status == 202) id = JsonUtility.FromJson<ZpipeBuildStatus>(text).id;
            else if (status == 422) answer = text;  // a bad request: the same answer the CLI gives
            else throw new ZpipeServerRefused("the server refused the request (" + status + "): " + text);
        }

        public override bool Poll(out float fraction, out string message)
        {
            if (answer != null)
            {
                fraction = 1f;
                message = "zpipe: refused";
                return true;
            }
            string text, ignored;
            ZpipeHook.Http("GET", server + "/api/builds/" + id, token, null, 5000, out text, out ignored);
            var job = JsonUtility.FromJson<ZpipeBuildStatus>(text);
            var p = job.progress ?? new ZpipeProgress();
            fraction = p.total > 0 ? (float)p.done / p.total : 0f;
            message = "zpipe (server): " + job.state + ", " + p.done + "/" + p.total + " assets";
            return job.state == "done" || job.state == "failed" || job.state == "cancelled";
        }

        public override int Finish(out string stdout, out string stderr)
        {
            stderr = "";
            if (answer == null)
                ZpipeHook.Http("GET", server + "/hook/" + id, token, null, 30000, out answer, out exit);
            stdout = answer;
            int code;
            return int.TryParse(exit, out code) ? code : 2;
        }

        public override void Cancel()
        {
            if (id == null) return;
            string text, ignored;
            try { ZpipeHook.Http("DELETE", server + "/api/builds/" + id, token, null, 5000, out text, out ignored); }
            catch (WebException) { }
        }
    }

    public static class ZpipeTextures
    {
        public const string Folder = "Assets/ZpipeTextures";
        const string CliKey = "zpipe.cli", StoreKey = "zpipe.store", EngineKey = "zpipe.engine";
        const string ServerKey = "zpipe.server", TokenKey = "zpipe.token";
        public const string DefaultServer = "http://127.0.0.1:8765";

        // asset path -> role, for files of the running export (the postprocessor reads it)
        internal static readonly Dictionary<string, string> Pending = new Dictionary<string, string>();

        [MenuItem("Assets/zpipe/Build Textures for Selected Materials")]
        public static void BuildSelected()
        {
            var materials = Selection.GetFiltered<Material>(SelectionMode.Assets);
            if (materials.Length == 0)
            {
                EditorUtility.DisplayDialog("zpipe", "Select one or more materials in the Project window.", "OK");
                return;
            }
            var entries = new List<string>();
            foreach (var m in materials)
            {
                var spec = new ZpipeMaterialSpec();
                var importer = AssetImporter.GetAtPath(AssetDatabase.GetAssetPath(m));
                if (importer != null && !string.IsNullOrEmpty(importer.userData) && importer.userData.TrimStart().StartsWith("{"))
                    spec = JsonUtility.FromJson<ZpipeMaterialSpec>(importer.userData);
                entries.Add(ZpipeHook.MaterialJson(m.name, spec.description, spec.prompt, spec.size, spec.seed));
            }
            string target = Path.GetFullPath(Path.Combine(Application.dataPath, "ZpipeTextures"));
            var pipeline = UnityEngine.Rendering.GraphicsSettings.currentRenderPipeline;
            string request = ZpipeHook.RequestJson(target, EditorPrefs.GetString(StoreKey, ""),
                                                   EditorPrefs.GetString(EngineKey, "auto"),
                                                   ZpipeHook.PresetFor(pipeline == null ? null : pipeline.GetType().Name), entries);
            string stdout, stderr;
            int code;
            try
            {
                var build = ZpipeHook.Start(EditorPrefs.GetString(CliKey, "zpipe"), EditorPrefs.GetString(ServerKey, DefaultServer),
                                            EditorPrefs.GetString(TokenKey, ""), request, 3600);
                float fraction = 0f;
                string message = "zpipe: starting (" + build.Via + ")";
                while (!build.Poll(out fraction, out message))
                {
                    if (EditorUtility.DisplayCancelableProgressBar("zpipe", message, fraction))
                    {
                        build.Cancel();
                        EditorUtility.ClearProgressBar();
                        UnityEngine.Debug.Log("zpipe: build cancelled (finished textures are kept for the next build)");
                        return;
                    }
                    Thread.Sleep(100);
                }
                code = build.Finish(out stdout, out stderr);
            }
            catch (Exception e)
            {
                EditorUtility.ClearProgressBar();
                EditorUtility.DisplayDialog("zpipe", "Could not run zpipe (Assets > zpipe > Settings): " + e.Message, "OK");
                return;
            }
            EditorUtility.ClearProgressBar();
            ZpipeAnswer answer = null;
            try { answer = JsonUtility.FromJson<ZpipeAnswer>(stdout); } catch (ArgumentException) { }
            if (answer == null || answer.version != ZpipeHook.ProtocolVersion || code == 2)
            {
                string why = answer != null && answer.errors != null ? string.Join("\n", answer.errors) : stderr;
                EditorUtility.DisplayDialog("zpipe", "zpipe refused the request (exit " + code + "):\n" + why, "OK");
                return;
            }
            Import(answer, materials);
        }

        static string AssetPathOf(string fullPath)
        {
            string data = Path.GetFullPath(Application.dataPath).Replace('\\', '/');
            string full = Path.GetFullPath(fullPath).Replace('\\', '/');
            return full.StartsWith(data + "/") ? "Assets" + full.Substring(data.Length) : null;
        }

        static void Import(ZpipeAnswer answer, Material[] materials)
        {
            var byName = new Dictionary<string, Material>();
            foreach (var m in materials) byName[m.name] = m;
            Pending.Clear();
            foreach (var r in answer.results)
                if (r.maps != null)
                    foreach (var map in r.maps)
                    {
                        string p = AssetPathOf(map.path);
                        if (p != null) Pending[p] = map.role;
                    }
            AssetDatabase.Refresh();  // imports the new files; ZpipeTexturePostprocessor sets their options
            foreach (var p in Pending.Keys) AssetDatabase.ImportAsset(p, ImportAssetOptions.ForceUpdate);
            Pending.Clear();
            foreach (var r in answer.results)
            {
                Material m;
                if (r.status == "failed" || r.maps == null || !byName.TryGetValue(r.name, out m))
                {
                    if (r.status == "failed") UnityEngine.Debug.LogWarning("zpipe: " + r.name + ": " + r.error);
                    continue;
                }
                foreach (var map in r.maps)
                {
                    string p = AssetPathOf(map.path);
                    var tex = p == null ? null : AssetDatabase.LoadAssetAtPath<Texture2D>(p);
                    if (tex != null) Assign(m, map.role, tex);
                }
            }
            AssetDatabase.SaveAssets();
            UnityEngine.Debug.Log("zpipe: " + answer.results.Length + " material(s), " + (answer.ok ? "all built" : "some failed"));
        }

        /// <summary>Put a map into the material's slot for its role (HDRP, URP or Standard property names) and
        /// turn the slot on. Returns the property set, or null when the shader has no slot for it.</summary>
        public static string Assign(Material m, string role, Texture tex)
        {
            string slot = null;
            switch (role)
            {
                case "albedo":
                    slot = SetFirst(m, tex, "_BaseColorMap", "_BaseMap", "_MainTex");
                    break;
                case "normal":
                    slot = SetFirst(m, tex, "_NormalMap", "_BumpMap");
                    if (slot != null) { m.EnableKeyword("_NORMALMAP"); if (slot == "_NormalMap") m.EnableKeyword("_NORMALMAP_TANGENT_SPACE"); }
                    break;
                case "mask":  // HDRP: metallic, AO, detail mask, smoothness
                    slot = SetFirst(m, tex, "_MaskMap");
                    if (slot != null) m.EnableKeyword("_MASKMAP");
                    break;
                case "metallic_smoothness":  // URP and Standard: smoothness = alpha x the slider, so the slider goes to 1
                    slot = SetFirst(m, tex, "_MetallicGlossMap");
                    if (slot != null)
                    {
                        m.EnableKeyword("_METALLICSPECGLOSSMAP");
                        m.EnableKeyword("_METALLICGLOSSMAP");
                        foreach (var scale in new[] { "_Smoothness", "_GlossMapScale" })
                            if (m.HasProperty(scale)) m.SetFloat(scale, 1f);
                    }
                    break;
                case "ao":  // URP and Standard; HDRP reads AO from the mask map
                    if (!m.HasProperty("_MaskMap"))
                    {
                        slot = SetFirst(m, tex, "_OcclusionMap");
                        if (slot != null) m.EnableKeyword("_OCCLUSIONMAP");
                    }
                    break;
                case "height":
                    slot = SetFirst(m, tex, "_HeightMap", "_ParallaxMap");
                    if (slot == "_HeightMap") m.EnableKeyword("_HEIGHTMAP");
                    else if (slot != null) m.EnableKeyword("_PARALLAXMAP");
                    break;
                // roughness and orm: Unity's Lit shaders read smoothness from the packed map above, so these are
                // imported (linear, repeat) but have no slot.
            }
            return slot;
        }

        static string SetFirst(Material m, Texture tex, params string[] names)
        {
            foreach (var n in names)
                if (m.HasProperty(n)) { m.SetTexture(n, tex); return n; }
            return null;
        }

        [MenuItem("Assets/zpipe/Settings/Set zpipe CLI Path…")]
        public static void SetCli()
        {
            string path = EditorUtility.OpenFilePanel("The zpipe executable", "", "");
            if (!string.IsNullOrEmpty(path)) EditorPrefs.SetString(CliKey, path);
        }

        [MenuItem("Assets/zpipe/Settings/Use No zpipe Server (always the CLI)")]
        public static void NoServer() { EditorPrefs.SetString(ServerKey, ""); }

        [MenuItem("Assets/zpipe/Settings/Use the zpipe Server at 127.0.0.1:8765")]
        public static void LocalServer() { EditorPrefs.SetString(ServerKey, DefaultServer); }

        [MenuItem("Assets/zpipe/Settings/Use the Procedural Engine")]
        public static void UseProcedural() { EditorPrefs.SetString(EngineKey, "procedural"); }

        [MenuItem("Assets/zpipe/Settings/Use the Auto Engine")]
        public static void UseAuto() { EditorPrefs.SetString(EngineKey, "auto"); }
    }

    /// <summary>Importer options for every texture under Assets/ZpipeTextures.</summary>
    public class ZpipeTexturePostprocessor : AssetPostprocessor
    {
        public static string RoleOf(string assetPath)
        {
            string role;
            if (ZpipeTextures.Pending.TryGetValue(assetPath, out role)) return role;
            if (!assetPath.StartsWith(ZpipeTextures.Folder + "/")) return null;
            return ZpipeHook.RoleOfFileName(Path.GetFileNameWithoutExtension(assetPath));
        }

        void OnPreprocessTexture()
        {
            string role = RoleOf(assetPath);
            var importer = assetImporter as TextureImporter;
            if (role == null || importer == null) return;
            importer.wrapMode = TextureWrapMode.Repeat;
            if (role == "normal")
                importer.textureType = TextureImporterType.NormalMap;
            importer.sRGBTexture = !ZpipeHook.IsDataMap(role);
        }
    }
}
