// Minimal stand-ins for the UnityEditor types ZpipeTextures.cs uses (compile-only tests with mono's mcs).
using System;
using UnityEngine;

namespace UnityEditor
{
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class MenuItem : Attribute
    {
        public MenuItem(string itemName) { }
        public MenuItem(string itemName, bool isValidateFunction) { }
        public MenuItem(string itemName, bool isValidateFunction, int priority) { }
    }

    public enum SelectionMode { Unfiltered = 0, TopLevel = 1, Deep = 2, ExcludePrefab = 4, Editable = 8, Assets = 16, DeepAssets = 32 }

    public static class Selection
    {
        public static T[] GetFiltered<T>(SelectionMode mode) { return new T[0]; }
    }

    public class AssetImporter : UnityEngine.Object
    {
        public string userData = "";
        public string assetPath = "";
        public static AssetImporter GetAtPath(string path) { return null; }
    }

    public enum TextureImporterType { Default = 0, NormalMap = 1, GUI = 2, Sprite = 8, Cursor = 7, Cookie = 4, Lightmap = 6, SingleChannel = 10 }

    public class TextureImporter : AssetImporter
    {
        public TextureImporterType textureType = TextureImporterType.Default;
        public bool sRGBTexture = true;
        public TextureWrapMode wrapMode = TextureWrapMode.Clamp;
    }

    [Flags]
    public enum ImportAssetOptions { Default = 0, ForceUpdate = 1, ForceSynchronousImport = 8 }

    public static class AssetDatabase
    {
        public static string GetAssetPath(UnityEngine.Object asset) { return ""; }
        public static void Refresh() { }
        public static void ImportAsset(string path, ImportAssetOptions options) { }
        public static T LoadAssetAtPath<T>(string path) where T : UnityEngine.Object { return null; }
        public static void SaveAssets() { }
    }

    public static class EditorPrefs
    {
        public static string GetString(string key, string defaultValue) { return defaultValue; }
        public static void SetString(string key, string value) { }
    }

    public static class EditorUtility
    {
        public static bool DisplayDialog(string title, string message, string ok) { Console.Error.WriteLine(message); return true; }
        public static bool DisplayProgressBar(string title, string info, float progress) { return false; }
        public static bool DisplayCancelableProgressBar(string title, string info, float progress) { return false; }
        public static void ClearProgressBar() { }
        public static string OpenFilePanel(string title, string directory, string extension) { return ""; }
    }

    public class AssetPostprocessor
    {
        // read-only properties in Unity; settable fields here so a test can drive OnPreprocessTexture
        public string assetPath;
        public AssetImporter assetImporter;
    }
}
