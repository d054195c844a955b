// Test driver (mono): builds a request with ZpipeHook, runs the real zpipe CLI, reads the answer with the
// same answer classes as the editor script, and runs the postprocessor on each returned file.
// Usage: mono harness.exe ZPIPE_CLI TARGET STORE [PRESET [SERVER]] -> with SERVER, the export goes through
// ZpipeHook.Start (the server when it answers, else the CLI) and prints "via SERVER|CLI" and "progress F" lines; prints "result NAME|STATUS", "assign ROLE|SLOT",
// "keywords K1,K2", "float NAME=VALUE" and "map ROLE|PATH|SPACE|TYPE|SRGB|WRAP".
using System;
using System.Collections.Generic;
using System.Reflection;
using UnityEditor;
using Zpipe.Editor;

public static class Harness
{
    public static int Main(string[] args)
    {
        var mats = new List<string> {
            ZpipeHook.MaterialJson("Stone \"A\"", "granite", null, 64, -1),
            ZpipeHook.MaterialJson("Bricks", null, "red brick wall", 64, 5),
        };
        string preset = args.Length > 3 ? args[3] : "unity-hdrp";
        string request = ZpipeHook.RequestJson(args[1], args[2], "procedural", preset, mats);
        Console.WriteLine("request " + request);
        string stdout, stderr;
        int code;
        if (args.Length > 4)
        {
            var build = ZpipeHook.Start(args[0], args[4], "", request, 300);
            Console.WriteLine("via " + build.Via);
            float fraction;
            string message;
            while (!build.Poll(out fraction, out message))
            {
                Console.WriteLine("progress " + fraction.ToString(System.Globalization.CultureInfo.InvariantCulture));
                System.Threading.Thread.Sleep(20);
            }
            Console.WriteLine("progress " + fraction.ToString(System.Globalization.CultureInfo.InvariantCulture));
            code = build.Finish(out stdout, out stderr);
        }
        else
            code = ZpipeHook.Run(args[0], request, 300, out stdout, out stderr);
        Console.WriteLine("exit " + code);
        var answer = UnityEngine.JsonUtility.FromJson<ZpipeAnswer>(stdout);
        Console.WriteLine("answer " + answer.version + " " + answer.ok);
        var pre = typeof(ZpipeTexturePostprocessor).GetMethod("OnPreprocessTexture", BindingFlags.Instance | BindingFlags.NonPublic);
        // the Lit shader's slots of the pipeline the preset is for
        var slots = preset == "unity-hdrp"
            ? new[] { "_BaseColorMap", "_NormalMap", "_MaskMap", "_HeightMap" }
            : new[] { "_BaseMap", "_BumpMap", "_MetallicGlossMap", "_OcclusionMap", "_ParallaxMap", "_Smoothness" };
        foreach (var r in answer.results)
        {
            Console.WriteLine("result " + r.name + "|" + r.status);
            var material = new UnityEngine.Material();
            foreach (var slot in slots) material.Properties.Add(slot);
            foreach (var m in r.maps)
            {
                var tex = new UnityEngine.Texture2D { name = m.role };
                Console.WriteLine("assign " + m.role + "|" + (ZpipeTextures.Assign(material, m.role, tex) ?? "-"));
            }
            var keywords = new List<string>(material.Keywords);
            keywords.Sort(StringComparer.Ordinal);
            Console.WriteLine("keywords " + string.Join(",", keywords));
            foreach (var f in material.Floats) Console.WriteLine("float " + f.Key + "=" + f.Value);
            foreach (var m in r.maps)
            {
                string assetPath = "Assets/ZpipeTextures/" + System.IO.Path.GetFileName(r.folder) + "/" + System.IO.Path.GetFileName(m.path);
                var importer = new TextureImporter();
                var post = new ZpipeTexturePostprocessor { assetPath = assetPath, assetImporter = importer };
                pre.Invoke(post, null);
                Console.WriteLine("map " + m.role + "|" + m.path + "|" + m.colour_space + "|" + importer.textureType + "|" +
                                  importer.sRGBTexture + "|" + importer.wrapMode);
            }
        }
        return 0;
    }
}
