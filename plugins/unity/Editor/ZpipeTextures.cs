// zpipe textures for Unity: build the selected materials' textures with the zpipe CLI and import them.
//
// Assets > zpipe > Build Textures for Selected Materials: writes a hook-protocol request (version 1,
// docs/hook-protocol.md), runs `zpipe hook export --request FILE --json` (the CLI path is set under
// Assets > zpipe > Settings, stored in EditorPrefs), and imports the returned files, which zpipe puts in
// Assets/ZpipeTextures/<material>/. The AssetPostprocessor below sets the importer options of every file
// there: normal maps as NormalMap, sRGB off for data maps (normal, roughness, AO, height), wrap mode Repeat.
// Then the maps are assigned to the material where its shader has the slot (Standard / URP / HDRP names).
//
// A material's zpipe description is its importer's userData, e.g. {"description": "mossy granite", "size": 512}
// or {"prompt": "…"}; without one, the material's name is the description. Put this file in an Editor folder.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
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

        public static string RequestJson(string target, string store, string engine, IList<string> materials)
        {
            var b = new StringBuilder("{\"version\": ").Append(ProtocolVersion);
            b.Append(", \"name\": \"unity\", \"target\": ").Append(Quote(target));
            if (!string.IsNullOrEmpty(store)) b.Append(", \"store\": ").Append(Quote(store));
            b.Append(", \"engine\": ").Append(Quote(string.IsNullOrEmpty(engine) ? "auto" : engine));
            b.Append(", \"output\": {\"formats\": [\"png\"]}");
            b.Append(", \"materials\": [").Append(string.Join(", ", materials)).Append("]}");
            return b.ToString();
        }

        /// <summary>Run `CLI hook export --request FILE --json`; returns (exit code, stdout, stderr).</summary>
        public static int Run(string cli, string requestJson, int timeoutSeconds, out string stdout, out string stderr)
        {
            string requestPath = Path.Combine(Path.GetTempPath(), "zpipe-request-" + Guid.NewGuid().ToString("N") + ".json");
            File.WriteAllText(requestPath, requestJson, new UTF8Encoding(false));
            try
            {
                var info = new ProcessStartInfo(cli, "hook export --json --request \"" + requestPath + "\"")
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    CreateNoWindow = true,
                    StandardOutputEncoding = Encoding.UTF8,
                    StandardErrorEncoding = Encoding.UTF8,
                };
                using (var process = Process.Start(info))
                {
                    var err = process.StandardError.ReadToEndAsync();
                    stdout = process.StandardOutput.ReadToEnd();
                    if (!process.WaitForExit(timeoutSeconds * 1000))
                    {
                        process.Kill();
                        throw new TimeoutException("zpipe did not finish in " + timeoutSeconds + " s");
                    }
                    stderr = err.Result;
                    return process.ExitCode;
                }
            }
            finally
            {
                File.Delete(requestPath);
            }
        }

        public static bool IsDataMap(string role)
        {
            return role == "normal" || role == "roughness" || role == "ao" || role == "height" || role == "orm";
        }
    }

    public static class ZpipeTextures
    {
        public const string Folder = "Assets/ZpipeTextures";
        const string CliKey = "zpipe.cli", StoreKey = "zpipe.store", EngineKey = "zpipe.engine";

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
            string request = ZpipeHook.RequestJson(target, EditorPrefs.GetString(StoreKey, ""),
                                                   EditorPrefs.GetString(EngineKey, "auto"), entries);
            string stdout, stderr;
            int code;
            try
            {
                EditorUtility.DisplayProgressBar("zpipe", "Building " + materials.Length + " material(s)…", 0.5f);
                code = ZpipeHook.Run(EditorPrefs.GetString(CliKey, "zpipe"), request, 3600, out stdout, out stderr);
            }
            catch (Exception e)
            {
                EditorUtility.ClearProgressBar();
                EditorUtility.DisplayDialog("zpipe", "Could not run the zpipe CLI (Assets > zpipe > Settings): " + e.Message, "OK");
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
                    if (tex == null) continue;
                    if (map.role == "albedo") SetFirst(m, tex, "_BaseMap", "_BaseColorMap", "_MainTex");
                    else if (map.role == "normal" && SetFirst(m, tex, "_BumpMap", "_NormalMap")) m.EnableKeyword("_NORMALMAP");
                    else if (map.role == "ao") SetFirst(m, tex, "_OcclusionMap");
                    // roughness: Unity's Lit shaders read smoothness from the metallic/mask map's alpha, so it
                    // is imported (linear, repeat) but not assigned.
                }
            }
            AssetDatabase.SaveAssets();
            UnityEngine.Debug.Log("zpipe: " + answer.results.Length + " material(s), " + (answer.ok ? "all built" : "some failed"));
        }

        static bool SetFirst(Material m, Texture tex, params string[] names)
        {
            foreach (var n in names)
                if (m.HasProperty(n)) { m.SetTexture(n, tex); return true; }
            return false;
        }

        [MenuItem("Assets/zpipe/Settings/Set zpipe CLI Path…")]
        public static void SetCli()
        {
            string path = EditorUtility.OpenFilePanel("The zpipe executable", "", "");
            if (!string.IsNullOrEmpty(path)) EditorPrefs.SetString(CliKey, path);
        }

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
            return Path.GetFileNameWithoutExtension(assetPath).ToLowerInvariant();  // zpipe names files by role
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
